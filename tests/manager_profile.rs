//! The profile sweep as library API (`manager::profile`), in-process, on a
//! fake Jetson Nano tree: every k at every placement and clock setting,
//! progress reported point by point, the accuracy of each k from the data,
//! and the clocks restored. tests/manager_cli.rs drives the same sweep
//! through the binary.

mod common;

use groupscale::manager::{self, PointSet, ProfileOptions};
use groupscale::platform::{GuardOptions, Sysfs, Tools};

fn options(
    tree: &common::fake_boards::Tree,
    state: &std::path::Path,
    points: PointSet,
) -> ProfileOptions {
    ProfileOptions {
        points,
        runs: 3,
        sysfs: Sysfs::new(tree.root()),
        guard: GuardOptions {
            state_file: Some(state.join("clocks.json")),
            tools: Tools::find(Some(&tree.path("/usr/sbin/nvpmodel")), None),
            ..GuardOptions::none()
        },
    }
}

#[test]
fn the_sweep_measures_every_point_and_restores_the_clocks() {
    let nano = common::fake_boards::jetson_nano();
    let before = nano.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let model = common::tiny::tiny_model();
    let data = groupscale::data::load(
        common::tiny::write_tiny(dir.path(), 6)
            .parent()
            .unwrap()
            .to_str()
            .unwrap(),
    )
    .unwrap();
    let mut seen = Vec::new();
    let table = manager::profile(
        &model,
        &data,
        &options(&nano, dir.path(), PointSet::All),
        &mut |p| seen.push((p.done, p.total, p.point.k)),
    )
    .unwrap();
    nano.assert_unchanged(&before, "after the sweep");
    assert!(
        !dir.path().join("clocks.json").exists(),
        "state file left behind"
    );

    let g = model.groups();
    assert_eq!(table.groups, g);
    assert!(!table.points.is_empty());
    assert_eq!(table.points.len() % g, 0, "every k at every setting");
    assert!(table
        .points
        .iter()
        .any(|p| !p.point.clocks.cpu_khz.is_empty()));
    assert!(table.points.iter().any(|p| p.point.clocks.gpu_hz.is_some()));
    // The fake Nano's INA3221 rails give every point an energy.
    assert!(table.points.iter().all(|p| p.energy_mj.is_some()));
    for p in &table.points {
        assert!(p.latency_ms > 0.0 && p.p95_ms >= p.latency_ms, "{p:?}");
    }
    // Progress: once per point, in order, with the right total.
    assert_eq!(seen.len(), table.points.len());
    for (i, &(done, total, k)) in seen.iter().enumerate() {
        assert_eq!((done, total), (i, table.points.len()));
        assert_eq!(k, table.points[i].point.k);
    }
    // Accuracy depends on k only.
    for p in &table.points {
        let first = &table.points[p.point.k - 1];
        assert_eq!(p.accuracy, first.accuracy);
    }
}

#[test]
fn the_groups_set_sweeps_k_alone_and_names_what_it_left_out() {
    let nano = common::fake_boards::jetson_nano();
    let before = nano.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let model = common::tiny::tiny_model();
    let data_dir = common::tiny::write_tiny(dir.path(), 6);
    let data = groupscale::data::load(data_dir.parent().unwrap().to_str().unwrap()).unwrap();
    let table = manager::profile(
        &model,
        &data,
        &options(&nano, dir.path(), PointSet::Groups),
        &mut |_| {},
    )
    .unwrap();
    nano.assert_unchanged(&before, "after the sweep");
    assert_eq!(table.points.len(), model.groups());
    assert!(table
        .left_out
        .iter()
        .any(|why| why.contains("not swept (points: groups)")));
    assert!("everything".parse::<PointSet>().is_err());
}
