//! The scalar oracle against an independent float64 implementation written
//! from the semantics' text, not from the crate's group helpers.

use groupscale::check::cases::{self, Case};
use groupscale::{Connectivity, Layer, PreparedLayer, ScalarBackend, Shape4};
use std::sync::Arc;

/// Which input channels output channel `co` reads, and where its weight row
/// starts, re-derived from the layout definitions.
fn conv_row(
    c: Connectivity,
    cin: usize,
    cout: usize,
    g: usize,
    taps: usize,
    co: usize,
) -> (Vec<usize>, usize) {
    let (og, j) = (cout / g, co / (cout / g));
    match c {
        Connectivity::Isolated => {
            let cg = cin / g;
            ((j * cg..(j + 1) * cg).collect(), co * cg * taps)
        }
        Connectivity::Full => ((0..cin).collect(), co * cin * taps),
        Connectivity::Cumulative => {
            let cg = cin / g;
            // Blocks [og, (i+1)·cg, taps] for i < j come first.
            let before: usize = (0..j).map(|i| og * (i + 1) * cg * taps).sum();
            (
                (0..(j + 1) * cg).collect(),
                before + (co - j * og) * (j + 1) * cg * taps,
            )
        }
    }
}

fn reference(case: &Case) -> Vec<f64> {
    let x: Vec<f64> = case.input.data.iter().map(|&v| v as f64).collect();
    let s = case.input.shape;
    let k = case.k;
    match &case.layer {
        Layer::Conv2d(conv) => {
            let p = conv.spec();
            let w: Vec<f64> = conv.weights().to_f32().iter().map(|&v| v as f64).collect();
            let [kh, kw] = p.kernel;
            let ho = (s.h + 2 * p.padding[0] - p.dilation[0] * (kh - 1) - 1) / p.stride[0] + 1;
            let wo = (s.w + 2 * p.padding[1] - p.dilation[1] * (kw - 1) - 1) / p.stride[1] + 1;
            let cout = k * p.out_channels / p.groups;
            let mut y = vec![0.0; s.n * cout * ho * wo];
            for n in 0..s.n {
                for co in 0..cout {
                    let (reads, row) = conv_row(
                        p.connectivity,
                        p.in_channels,
                        p.out_channels,
                        p.groups,
                        kh * kw,
                        co,
                    );
                    for oy in 0..ho {
                        for ox in 0..wo {
                            let mut acc = conv.bias().map_or(0.0, |b| b[co] as f64);
                            for (r, &ci) in reads.iter().enumerate() {
                                for ky in 0..kh {
                                    for kx in 0..kw {
                                        let iy = (oy * p.stride[0] + ky * p.dilation[0]) as i64
                                            - p.padding[0] as i64;
                                        let ix = (ox * p.stride[1] + kx * p.dilation[1]) as i64
                                            - p.padding[1] as i64;
                                        if iy >= 0
                                            && ix >= 0
                                            && (iy as usize) < s.h
                                            && (ix as usize) < s.w
                                        {
                                            let xv = x[((n * s.c + ci) * s.h + iy as usize) * s.w
                                                + ix as usize];
                                            acc += w[row + (r * kh + ky) * kw + kx] * xv;
                                        }
                                    }
                                }
                            }
                            if p.relu {
                                acc = acc.max(0.0);
                            }
                            y[((n * cout + co) * ho + oy) * wo + ox] = acc;
                        }
                    }
                }
            }
            y
        }
        Layer::Linear(l) => {
            let p = l.spec();
            let w: Vec<f64> = l.weights().to_f32().iter().map(|&v| v as f64).collect();
            let fin = s.item_len();
            let fout = k * p.out_features / p.groups;
            let mut y = vec![0.0; s.n * fout];
            for n in 0..s.n {
                for o in 0..fout {
                    let (reads, row) = conv_row(
                        p.connectivity,
                        p.in_features,
                        p.out_features,
                        p.groups,
                        1,
                        o,
                    );
                    let mut acc = l.bias().map_or(0.0, |b| b[o] as f64);
                    for (r, &i) in reads.iter().enumerate() {
                        acc += w[row + r] * x[n * fin + i];
                    }
                    y[n * fout + o] = if p.relu { acc.max(0.0) } else { acc };
                }
            }
            y
        }
        Layer::Head(h) => {
            let p = h.spec();
            let w: Vec<f64> = h.weights().to_f32().iter().map(|&v| v as f64).collect();
            let fg = p.in_features / p.groups;
            let mut y = vec![0.0; s.n * p.classes];
            for n in 0..s.n {
                for c in 0..p.classes {
                    let mut acc = h.bias()[(k - 1) * p.classes + c] as f64;
                    for j in 0..k {
                        for f in 0..fg {
                            acc += w[(j * p.classes + c) * fg + f] * x[n * k * fg + j * fg + f];
                        }
                    }
                    y[n * p.classes + c] = acc;
                }
            }
            y
        }
        Layer::MaxPool2d(p) => {
            let ho = (s.h + 2 * p.padding[0] - p.kernel[0]) / p.stride[0] + 1;
            let wo = (s.w + 2 * p.padding[1] - p.kernel[1]) / p.stride[1] + 1;
            let mut y = vec![f64::NEG_INFINITY; s.n * s.c * ho * wo];
            for nc in 0..s.n * s.c {
                for oy in 0..ho {
                    for ox in 0..wo {
                        for ky in 0..p.kernel[0] {
                            for kx in 0..p.kernel[1] {
                                let iy = (oy * p.stride[0] + ky) as i64 - p.padding[0] as i64;
                                let ix = (ox * p.stride[1] + kx) as i64 - p.padding[1] as i64;
                                if iy >= 0 && ix >= 0 && (iy as usize) < s.h && (ix as usize) < s.w
                                {
                                    let v = x[(nc * s.h + iy as usize) * s.w + ix as usize];
                                    let cell = &mut y[(nc * ho + oy) * wo + ox];
                                    *cell = cell.max(v);
                                }
                            }
                        }
                    }
                }
            }
            y
        }
        Layer::Softmax => {
            let cols = s.item_len();
            x.chunks(cols)
                .flat_map(|row| {
                    let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = row.iter().map(|v| (v - m).exp()).collect();
                    let sum: f64 = e.iter().sum();
                    e.into_iter().map(move |v| v / sum)
                })
                .collect()
        }
    }
}

fn check_against_reference(cases: &[Case], context: &str) {
    let oracle: Arc<dyn groupscale::Backend> = Arc::new(ScalarBackend);
    let mut failures = Vec::new();
    for case in cases {
        let got = PreparedLayer::new(&oracle, case.layer.clone())
            .unwrap()
            .forward(&case.input, case.k)
            .unwrap();
        let want = reference(case);
        assert_eq!(got.data.len(), want.len(), "{}: output length", case.name);
        for (i, (&g, &w)) in got.data.iter().zip(&want).enumerate() {
            let tol = groupscale::check::tolerance(case.depth(), w as f32) as f64;
            if (g as f64 - w).abs() > tol {
                failures.push(format!(
                    "{}: element {i}: f64 {w}, oracle {g}, tolerance {tol:.2e}",
                    case.name
                ));
                break;
            }
        }
    }
    assert!(failures.is_empty(), "{context}:\n{}", failures.join("\n"));
}

#[test]
fn named_cases_match_f64() {
    check_against_reference(&cases::named(), "named cases");
}

#[test]
fn random_convolutions_match_f64() {
    let seed = 0xf64;
    check_against_reference(
        &cases::random_convs(seed, 80, 10),
        &format!("random cases, seed {seed}"),
    );
}

#[test]
fn output_size_follows_the_formula() {
    // floor((H + 2p − d·(kh−1) − 1)/s) + 1 = floor((10 + 2 − 4 − 1)/3) + 1 = 3
    let spec = groupscale::Conv2dSpec::new(4, 4, 3, 1, 2, Connectivity::Isolated)
        .with_dilation(2)
        .with_stride(3);
    assert_eq!(
        spec.output_shape(Shape4::new(1, 2, 10, 10), 1).unwrap(),
        Shape4::new(1, 2, 3, 3)
    );
}
