//! Once a layer is prepared and reserved, changing the active group count
//! allocates nothing: counted with a global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

mod common;

use groupscale::presets::alexnet_cifar;
use groupscale::{Backend, ConvAlgo, CpuBackend, CpuConfig, CpuIsa, PreparedLayer};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

// No test harness (`harness = false` in Cargo.toml): the counter is
// process-wide, and libtest's own thread allocates while a test runs (its
// bookkeeping after starting the test thread landed in a counting window of
// an optimised build).
fn main() {
    layers_on_one_or_two_threads();
    model_session();
    serving_frames();
    #[cfg(feature = "cuda-emulator")]
    cuda_device_chain();
    println!("switching k allocated nothing");
}

/// A CUDA session runs as a device chain; the emulator stands in for the
/// GPU (its launches allocate nothing either, once its fibers exist).
#[cfg(feature = "cuda-emulator")]
fn cuda_device_chain() {
    use groupscale::backend::cuda::{CudaBackend, CudaOptions};
    let backend = Arc::new(CudaBackend::emulated(CudaOptions::default(), false));
    assert_session_switches_allocate_nothing(backend, "CUDA device chain (emulated)");
}

/// Runs the shipped model once at each batch size, then switches k and
/// batch: no allocation is allowed after the warm-up.
fn assert_session_switches_allocate_nothing(backend: Arc<dyn Backend>, label: &str) {
    let model = groupscale::loader::builtin::model("cumulative").unwrap();
    let mut session = groupscale::Session::new(&model, backend, 2).unwrap();
    let item = model.input().item_len();
    let images = vec![0.1f32; 2 * item];
    session.infer(&images, 2).unwrap();
    session.infer(&images[..item], 1).unwrap();
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for k in [1, 4, 2, 3, 1] {
        session.set_active_groups(k).unwrap();
        for batch in [2, 1] {
            session.infer(&images[..batch * item], batch).unwrap();
        }
    }
    let allocations = ALLOCATIONS.load(Ordering::SeqCst) - before;
    assert_eq!(
        allocations, 0,
        "model session on {label}: {allocations} allocations"
    );
}

fn layers_on_one_or_two_threads() {
    // Two threads go through the worker pool, whose jobs live on the stack.
    // Every convolution path: direct, both Winograd tilings, and `auto`.
    let convs = [
        ConvAlgo::Auto,
        ConvAlgo::Direct,
        ConvAlgo::WinogradF2,
        ConvAlgo::WinogradF4,
    ];
    for (isa, threads, conv) in CpuIsa::supported().into_iter().flat_map(|isa| {
        [1, 2]
            .into_iter()
            .flat_map(move |t| convs.map(|conv| (isa, t, conv)))
    }) {
        let backend: Arc<dyn Backend> = Arc::new(
            CpuBackend::new(CpuConfig {
                isa: Some(isa),
                threads: Some(threads),
                cores: None,
                conv: Some(conv),
            })
            .unwrap(),
        );
        for preset in alexnet_cifar() {
            let [h, w] = preset.input_hw;
            let mut layer = PreparedLayer::new(&backend, preset.layer(1).unwrap().into()).unwrap();
            layer.reserve(2, h, w).unwrap();
            let input = vec![0.25f32; preset.input_shape(2, 4).len()];
            let mut output = vec![
                0.0f32;
                layer
                    .output_shape(preset.input_shape(2, 4), 4)
                    .unwrap()
                    .len()
            ];
            let mut run = |k: usize, batch: usize| {
                let shape = preset.input_shape(batch, k);
                let out_len = layer.output_shape(shape, k).unwrap().len();
                layer
                    .run(&input[..shape.len()], shape, k, &mut output[..out_len])
                    .unwrap();
            };
            // One warm-up run at each size: the claim is about switching k
            // once a layer is running, not about its first call.
            run(4, 2);
            run(4, 1);
            let before = ALLOCATIONS.load(Ordering::SeqCst);
            for k in [4, 1, 3, 2, 4, 1] {
                for batch in [2, 1] {
                    run(k, batch);
                }
            }
            let allocations = ALLOCATIONS.load(Ordering::SeqCst) - before;
            assert_eq!(
                allocations, 0,
                "{} on {isa} ({conv}) with {threads} threads: {allocations} allocations while switching k",
                preset.name
            );
        }
    }
}

fn model_session() {
    for isa in CpuIsa::supported() {
        let backend: Arc<dyn Backend> = Arc::new(
            CpuBackend::new(CpuConfig {
                isa: Some(isa),
                threads: Some(2),
                cores: None,
                conv: None,
            })
            .unwrap(),
        );
        assert_session_switches_allocate_nothing(backend, &isa.to_string());
    }
}

fn allocations() -> usize {
    ALLOCATIONS.load(Ordering::SeqCst)
}

/// The manager's serving loop in process: steady frames and switches of k
/// allocate nothing, by the statistics the server keeps with this test's
/// counter.
fn serving_frames() {
    use groupscale::manager::{Budget, Server};
    let model = groupscale::loader::builtin::model("cumulative").unwrap();
    let table = common::serving::serving_table(model.groups());
    let mut server = Server::new(&model, table, None, Some(allocations)).unwrap();
    let item = model.input().item_len();
    let image = vec![0.1f32; item];
    // Generous (every k meets it), impossible (the cheapest), generous: far
    // from every cost, so the choice does not depend on this machine's (or
    // qemu's) speed, which the server learns as a slowdown.
    for budget in [1e9, 1e-9, 1e9] {
        for _ in 0..20 {
            server.run_frame(Budget::LatencyMs(budget), &image).unwrap();
        }
    }
    let stats = server.finish().unwrap();
    assert!(stats.allocations_counted);
    assert_eq!(stats.frames, 60);
    assert_eq!(stats.budget_changes, 2, "{stats:?}");
    assert!(stats.k_switch.count >= 2, "{stats:?}");
    assert_eq!(stats.k_switch.allocations, 0, "{stats:?}");
    assert!(stats.steady_frames >= 50, "{stats:?}");
    assert_eq!(stats.steady_allocations, 0, "{stats:?}");
}
