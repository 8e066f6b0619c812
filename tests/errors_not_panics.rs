//! Caller mistakes come back as typed errors, never panics.

use std::sync::Arc;

use groupscale::{
    Backend, BackendKind, Connectivity, Conv2d, Conv2dSpec, CpuBackend, CpuConfig, Error, Head,
    HeadSpec, Linear, LinearSpec, MaxPool2dSpec, PreparedLayer, Shape4, Tensor,
};

fn cpu() -> Arc<dyn Backend> {
    Arc::new(CpuBackend::new(CpuConfig::default()).unwrap())
}

fn conv(spec: Conv2dSpec) -> Conv2d {
    Conv2d::new(spec, vec![0.5; spec.layout().weight_len()], None).unwrap()
}

#[test]
fn groups_must_divide_the_channels() {
    let spec = Conv2dSpec::new(6, 8, 3, 1, 4, Connectivity::Isolated);
    assert!(matches!(
        Conv2d::new(spec, vec![0.0; 10], None),
        Err(Error::InvalidSpec(_))
    ));
    let spec = Conv2dSpec::new(8, 6, 3, 1, 4, Connectivity::Full);
    assert!(matches!(spec.validate(), Err(Error::InvalidSpec(_))));
    let spec = LinearSpec {
        in_features: 10,
        out_features: 8,
        groups: 4,
        connectivity: Connectivity::Cumulative,
        relu: false,
    };
    assert!(Linear::new(spec, vec![0.0; 1], None).is_err());
    assert!(Head::new(
        HeadSpec {
            in_features: 10,
            classes: 3,
            groups: 4
        },
        vec![0.0; 30],
        vec![0.0; 12]
    )
    .is_err());
}

#[test]
fn zero_sizes_are_rejected() {
    for spec in [
        Conv2dSpec::new(8, 8, 0, 0, 2, Connectivity::Isolated),
        Conv2dSpec::new(8, 8, 3, 0, 0, Connectivity::Isolated),
        Conv2dSpec::new(8, 8, 3, 0, 2, Connectivity::Isolated).with_stride(0),
        Conv2dSpec::new(0, 8, 3, 0, 2, Connectivity::Isolated),
    ] {
        assert!(spec.validate().is_err(), "{spec:?}");
    }
    assert!(MaxPool2dSpec {
        kernel: [2, 2],
        stride: [0, 1],
        padding: [0, 0]
    }
    .validate()
    .is_err());
    assert!(MaxPool2dSpec {
        kernel: [2, 2],
        stride: [2, 2],
        padding: [2, 0]
    }
    .validate()
    .is_err());
}

#[test]
fn wrong_element_counts_are_rejected() {
    let spec = Conv2dSpec::new(8, 8, 3, 1, 2, Connectivity::Isolated);
    let err = Conv2d::new(spec, vec![0.0; 10], None).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ElementCount {
                expected: 288,
                got: 10,
                ..
            }
        ),
        "{err}"
    );
    assert!(Conv2d::new(spec, vec![0.0; 288], Some(vec![0.0; 7])).is_err());
}

#[test]
fn active_groups_out_of_range_are_rejected() {
    let spec = Conv2dSpec::new(8, 8, 3, 1, 2, Connectivity::Isolated);
    let mut layer = PreparedLayer::new(&cpu(), conv(spec).into()).unwrap();
    for k in [0, 3] {
        let x = Tensor::zeros(Shape4::new(1, 4, 5, 5));
        assert!(
            matches!(layer.forward(&x, k), Err(Error::ActiveGroups { k: kk, groups: 2 }) if kk == k)
        );
    }
}

#[test]
fn inputs_that_do_not_fit_are_rejected() {
    let spec = Conv2dSpec::new(8, 8, 3, 1, 2, Connectivity::Isolated);
    let mut layer = PreparedLayer::new(&cpu(), conv(spec).into()).unwrap();
    // 8 channels given, k = 1 reads 4.
    assert!(matches!(
        layer.forward(&Tensor::zeros(Shape4::new(1, 8, 5, 5)), 1),
        Err(Error::Shape(_))
    ));
    // Slice lengths that disagree with the shape.
    let shape = Shape4::new(1, 4, 5, 5);
    let mut out = vec![0.0; 100];
    assert!(matches!(
        layer.run(&[0.0; 99], shape, 1, &mut out),
        Err(Error::ElementCount { what: "input", .. })
    ));
    assert!(matches!(
        layer.run(&[0.0; 100], shape, 1, &mut out[..99]),
        Err(Error::ElementCount { what: "output", .. })
    ));
    // A dilated kernel wider than the padded input.
    let wide = Conv2dSpec::new(8, 8, 5, 0, 2, Connectivity::Isolated).with_dilation(3);
    let mut layer = PreparedLayer::new(&cpu(), conv(wide).into()).unwrap();
    assert!(matches!(
        layer.forward(&Tensor::zeros(Shape4::new(1, 4, 6, 6)), 1),
        Err(Error::Shape(_))
    ));
    assert!(Tensor::new(Shape4::new(1, 2, 3, 4), vec![0.0; 5]).is_err());
}

#[test]
fn unavailable_backends_say_why() {
    // Without an NVIDIA driver, CUDA must say so rather than panic (cudarc
    // panics when libcuda is missing unless asked first). wgpu's no-adapter
    // case is in wgpu_shaders.rs.
    let kind = BackendKind::Cuda;
    let driver_installed = [
        "/proc/driver/nvidia/version",
        "/dev/nvidiactl",
        "/dev/nvhost-ctrl-gpu", // Jetson (Tegra) GPUs
    ]
    .iter()
    .any(|p| std::path::Path::new(p).exists());
    match groupscale::backend(kind) {
        Err(Error::BackendUnavailable { backend, reason }) => {
            assert_eq!(backend, kind);
            assert!(!reason.is_empty());
            if !driver_installed && cfg!(feature = "cuda") {
                assert!(reason.contains("libcuda"), "{reason}");
            }
        }
        Ok(b) => assert!(
            driver_installed,
            "CUDA claims a GPU with no driver: {}",
            b.describe()
        ),
        Err(e) => panic!("unexpected error {e}"),
    }
    assert!(matches!(
        "tpu".parse::<BackendKind>(),
        Err(Error::UnknownBackend(_))
    ));
}

#[test]
fn impossible_cpu_settings_are_errors() {
    assert!(CpuBackend::new(CpuConfig {
        threads: Some(0),
        ..CpuConfig::default()
    })
    .is_err());
    assert!(CpuBackend::new(CpuConfig {
        cores: Some(vec![]),
        ..CpuConfig::default()
    })
    .is_err());
    assert!(CpuBackend::new(CpuConfig {
        cores: Some(vec![1 << 20]),
        ..CpuConfig::default()
    })
    .is_err());
}
