//! Hand-built networks whose target input reveals which neuron fired and with which delay.

use crate::common::integrator;

use somnet::network::{Connection, Connector, Delay, Network, NetworkConfig, StateVar, Weights};
use somnet::neuron::{IafParams, NeuronModel, Port};

/// An empty network with 1 ms steps and the given seed.
fn net_1ms(seed: u64) -> Network {
    Network::new(NetworkConfig {
        dt_ms: 1.0,
        seed,
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn binary_weights_decode_sender_and_delay() {
    // Source i fires at step 3i + 1 and reaches the target with a delay of (i mod 4) + 1 steps
    // through a synapse of weight 2^i. Each step's increase of the target's potential is the sum of
    // 2^i over the spikes arriving in that step, so its bits name the senders.
    decode_sender_and_delay(|i| (i % 4) as u64 + 1);
}

#[test]
fn binary_weights_decode_sender_and_delay_through_a_long_ring() {
    // The same with delays up to 91 steps: a ring of more slots than delivery's table of slot
    // starts holds, so each event takes the slot arithmetic.
    decode_sender_and_delay(|i| (i % 4) as u64 * 30 + 1);
}

/// [`binary_weights_decode_sender_and_delay`] with the delay of source i given by `delay`.
fn decode_sender_and_delay(delay: impl Fn(usize) -> u64) {
    let n = 12usize;
    let mut net = Network::new(NetworkConfig {
        dt_ms: 1.0,
        seed: 0,
        max_delay_ms: 100.0,
    })
    .unwrap();
    let fire_step = |i: usize| 3 * i as u64 + 1;
    let src = net
        .add_spike_source(
            "src",
            &(0..n)
                .map(|i| vec![fire_step(i) as f64])
                .collect::<Vec<_>>(),
        )
        .unwrap();
    let tgt = net
        .add_population("target", 1, integrator(), vec![Port::Delta])
        .unwrap();
    let pairs: Vec<(u32, u32)> = (0..n as u32).map(|i| (i, 0)).collect();
    let weights = Weights::Values((0..n).map(|i| (1u32 << i) as f32).collect());
    let delays = Delay::ValuesMs((0..n).map(|i| delay(i) as f64).collect());
    net.connect(
        src,
        tgt,
        Connection::new(Connector::List(pairs), weights).delay(delays),
    )
    .unwrap();
    let m = net.monitor_state(tgt, StateVar::V, vec![0], 1).unwrap();
    net.run(140).unwrap();
    let v = net.state_monitor(m).trace(0);
    let mut arrivals = Vec::new();
    for t in 0..v.len() {
        let before = if t == 0 { 0.0 } else { v[t - 1] };
        let bits = (v[t] - before) as u32;
        for i in 0..n {
            if bits & (1 << i) != 0 {
                arrivals.push((i, t as u64));
            }
        }
    }
    arrivals.sort();
    let expected: Vec<(usize, u64)> = (0..n).map(|i| (i, fire_step(i) + delay(i))).collect();
    assert_eq!(arrivals, expected);
}

#[test]
fn zero_delay_crosses_a_feed_forward_chain_in_one_step() {
    // src → a → b → c with delay 0 and weights that make each layer fire on one input spike:
    // all four spike in the same step (the schedule of `somnet::network`).
    let mut net = net_1ms(0);
    let src = net.add_spike_source("src", &[vec![5.0]]).unwrap();
    let mut prev = src;
    let mut monitors = Vec::new();
    for name in ["a", "b", "c"] {
        let pop = net
            .add_population(
                name,
                1,
                NeuronModel::Iaf(IafParams::default()),
                vec![Port::Delta],
            )
            .unwrap();
        net.connect(
            prev,
            pop,
            Connection::new(Connector::AllToAll, Weights::Constant(1.0)).delay(Delay::Steps(0)),
        )
        .unwrap();
        monitors.push(net.monitor_spikes(pop, None).unwrap());
        prev = pop;
    }
    net.run(10).unwrap();
    for m in monitors {
        assert_eq!(net.spike_monitor(m).events, vec![(5, 0)]);
    }
}

#[test]
fn ranges_route_spikes_to_the_right_neurons_and_ports() {
    // Neurons 2..4 of the source project onto neurons 5..7 of the target's exponential port 1,
    // one-to-one; the others stay silent at the target.
    let mut net = net_1ms(0);
    let src = net
        .add_spike_source("src", &(0..6).map(|_| vec![0.0]).collect::<Vec<_>>())
        .unwrap();
    let ports = vec![
        Port::Delta,
        Port::Exponential { tau_ms: 1.0 },
        Port::Exponential { tau_ms: 2.0 },
    ];
    let tgt = net.add_population("t", 10, integrator(), ports).unwrap();
    let list = Connector::List(vec![(0, 0), (1, 1)]);
    net.connect(
        src.range(2..4),
        tgt.range(5..7),
        Connection::new(list, Weights::Values(vec![3.0, 4.0])).port(2),
    )
    .unwrap();
    net.run(2).unwrap();
    let syn = net.state(tgt, StateVar::Syn(1)).unwrap();
    let decay = (-1.0f32 / 2.0).exp();
    for (j, &x) in syn.iter().enumerate() {
        let expected = match j {
            5 => 3.0 * decay,
            6 => 4.0 * decay,
            _ => 0.0,
        };
        assert!((x - expected).abs() < 1e-6, "neuron {j}: {x} vs {expected}");
    }
    assert!(
        net.state(tgt, StateVar::Syn(0))
            .unwrap()
            .iter()
            .all(|&x| x == 0.0),
        "port 1 untouched"
    );
    assert_eq!(net.projections()[0].events(), 2);
}

#[test]
fn one_synapse_per_source_reaches_its_target_in_every_block() {
    // 9 000 sources each with one synapse (a permutation scattered over the target's three
    // blocks, weight 1 + i mod 13); source i fires once, at step i mod 5. The integrators' final
    // potentials are the weights of their own sources, and a second projection onto a range
    // lands where the range says.
    let n = 9000usize;
    let mut net = net_1ms(0);
    let src = net
        .add_spike_source(
            "src",
            &(0..n).map(|i| vec![(i % 5) as f64]).collect::<Vec<_>>(),
        )
        .unwrap();
    let tgt = net
        .add_population("t", n + 10, integrator(), vec![Port::Delta])
        .unwrap();
    let target = |i: usize| (i * 7919) % n;
    let weight = |i: usize| (1 + i % 13) as f32;
    let pairs: Vec<(u32, u32)> = (0..n).map(|i| (i as u32, target(i) as u32)).collect();
    let proj = net
        .connect(
            src,
            tgt.range(0..n as u32),
            Connection::new(
                Connector::List(pairs),
                Weights::Values((0..n).map(weight).collect()),
            ),
        )
        .unwrap();
    // Sources 0..10 also reach the last ten neurons in reverse order, weight 100.
    net.connect(
        src.range(0..10),
        tgt.range(n as u32..n as u32 + 10),
        Connection::new(
            Connector::List((0..10).map(|i| (i, 9 - i)).collect()),
            Weights::Constant(100.0),
        ),
    )
    .unwrap();
    net.run(8).unwrap();
    let v = net.state(tgt, StateVar::V).unwrap();
    let mut want = vec![0.0f32; n + 10];
    for i in 0..n {
        want[target(i)] = weight(i);
    }
    for i in 0..10 {
        want[n + 9 - i] = 100.0;
    }
    assert_eq!(v, want);
    assert_eq!(net.projection(proj).events(), n as u64);
}

#[test]
fn synaptic_event_counter_is_spikes_times_out_degree() {
    let mut net = net_1ms(9);
    let src = net.add_poisson("src", 200, 100.0).unwrap();
    let tgt = net
        .add_population("t", 300, integrator(), vec![Port::Delta])
        .unwrap();
    let proj = net
        .connect(
            src,
            tgt,
            Connection::new(Connector::FixedProbability(0.1), Weights::Constant(1.0)),
        )
        .unwrap();
    let m = net.monitor_spikes(src, None).unwrap();
    net.run(50).unwrap();
    let syn = net.projection(proj).synapses();
    let mut degree = vec![0u64; 200];
    for s in &syn {
        degree[s.0 as usize] += 1;
    }
    let by_hand: u64 = net
        .spike_monitor(m)
        .events
        .iter()
        .map(|&(_, i)| degree[i as usize])
        .sum();
    assert!(by_hand > 0);
    assert_eq!(net.projection(proj).events(), by_hand);
}

#[test]
fn connectors_have_the_stated_statistics() {
    let mut net = net_1ms(5);
    let a = net
        .add_population("a", 2000, integrator(), vec![Port::Delta])
        .unwrap();
    let b = net
        .add_population("b", 1500, integrator(), vec![Port::Delta])
        .unwrap();
    let w = Weights::Constant(1.0);
    let fp = net
        .connect(
            a,
            b,
            Connection::new(Connector::FixedProbability(0.05), w.clone()),
        )
        .unwrap();
    let fi = net
        .connect(
            a,
            b,
            Connection::new(Connector::FixedInDegree(37), w.clone()),
        )
        .unwrap();
    let ft = net
        .connect(
            a,
            b,
            Connection::new(Connector::FixedTotalNumber(12345), w.clone()),
        )
        .unwrap();
    let aa = net
        .connect(b, a, Connection::new(Connector::AllToAll, w.clone()))
        .unwrap();
    let na = net
        .connect(
            a,
            a,
            Connection::new(Connector::FixedProbability(0.5), w).no_autapses(),
        )
        .unwrap();
    // Binomial(3·10⁶, 0.05): mean 150 000, sd ≈ 377; 5 sd.
    let n_fp = net.projection(fp).n_synapses() as f64;
    assert!((n_fp - 150_000.0).abs() < 5.0 * 377.0, "{n_fp}");
    let mut indeg = vec![0u32; 1500];
    for s in net.projection(fi).synapses() {
        indeg[s.1 as usize] += 1;
    }
    assert!(indeg.iter().all(|&d| d == 37));
    assert_eq!(net.projection(ft).n_synapses(), 12345);
    assert_eq!(net.projection(aa).n_synapses(), 1500 * 2000);
    assert!(
        net.projection(na).synapses().iter().all(|s| s.0 != s.1),
        "no autapses"
    );
    // Rows are sorted by post and every index is in range.
    for s in net.projection(fp).synapses() {
        assert!(s.0 < 2000 && s.1 < 1500);
    }
}

/// One step of spikes through a weight-shared convolution, read from integrating targets, against
/// the ANN's convolution of the 0/1 spike image (independent code: `ann::Conv2d`).
fn conv_projection_matches_ann(
    input: (usize, usize, usize),
    out_channels: usize,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: somnet::ann::Padding,
    layouts: (somnet::network::ImageLayout, somnet::network::ImageLayout),
) {
    use somnet::ann::layer::padded_extent;
    use somnet::ann::{Ann, Conv2d, DropoutMode, Layer};
    use somnet::network::{Conv2dGeometry, ImageLayout};
    let (c, h, w) = input;
    let (oh, pt) = padded_extent(h, kernel.0, stride.0, padding).unwrap();
    let (ow, pl) = padded_extent(w, kernel.1, stride.1, padding).unwrap();
    let n_k = out_channels * c * kernel.0 * kernel.1;
    // Distinct weights: k/7 − 3 in (C_out, C_in, kh, kw) order.
    let kernel_w: Vec<f32> = (0..n_k).map(|k| (k % 61) as f32 / 7.0 - 3.0).collect();
    let conv = Conv2d {
        weights: ndarray::Array4::from_shape_vec(
            (out_channels, c, kernel.0, kernel.1),
            kernel_w.clone(),
        )
        .unwrap(),
        bias: None,
        stride,
        padding,
    };
    let ann = Ann::new(
        vec![c, h, w],
        vec![("conv".into(), Layer::Conv2d(conv))],
        DropoutMode::Inverted,
    )
    .unwrap();
    // Every third pixel of the image fires.
    let image: Vec<f32> = (0..c * h * w).map(|i| (i % 3 == 0) as u8 as f32).collect();
    let want = ann
        .forward(ndarray::ArrayView2::from_shape((1, image.len()), &image).unwrap())
        .unwrap();
    let number = |layout: ImageLayout, ch: usize, pos: usize, n_c: usize, hw: usize| match layout {
        ImageLayout::ChannelsFirst => ch * hw + pos,
        ImageLayout::ChannelsLast => pos * n_c + ch,
    };
    let spikes: Vec<u32> = {
        let mut s: Vec<u32> = (0..c * h * w)
            .filter(|&i| image[i] > 0.0)
            .map(|i| number(layouts.0, i / (h * w), i % (h * w), c, h * w) as u32)
            .collect();
        s.sort_unstable();
        s
    };
    let mut net = Network::new(NetworkConfig {
        dt_ms: 1.0,
        ..Default::default()
    })
    .unwrap();
    let src = net.add_external_source("image", c * h * w).unwrap();
    let n_out = out_channels * oh * ow;
    let tgt = net
        .add_population("conv", n_out, integrator(), vec![Port::Delta])
        .unwrap();
    let g = Conv2dGeometry {
        input,
        out_channels,
        kernel,
        stride,
        pad: (pt, pl),
        output: (oh, ow),
        input_layout: layouts.0,
        output_layout: layouts.1,
    };
    let p = net.connect_conv(src, tgt, g, &kernel_w, 0, "conv").unwrap();
    net.inject_spikes(src, &spikes).unwrap();
    net.step();
    let v = net.state(tgt, StateVar::V).unwrap();
    for o in 0..out_channels {
        for pos in 0..oh * ow {
            let got = v[number(layouts.1, o, pos, out_channels, oh * ow)];
            let expect = want[[0, o * oh * ow + pos]];
            assert!(
                (got - expect).abs() < 1e-4,
                "{g:?}: output ({o}, {pos}): {got} vs {expect}"
            );
        }
    }
    // Events: every spike times its out-degree, as the explicit synapse list counts them.
    let syn = net.projection(p).synapses();
    let expected_events = spikes
        .iter()
        .map(|&s| syn.iter().filter(|x| x.0 == s).count() as u64)
        .sum::<u64>();
    assert_eq!(net.n_events(), expected_events);
    assert_eq!(net.projection(p).n_synapses(), syn.len() as u64);
}

#[test]
fn weight_shared_convolution_equals_the_ann_convolution() {
    use somnet::ann::Padding;
    use somnet::network::ImageLayout::{ChannelsFirst as F, ChannelsLast as L};
    for layouts in [(F, F), (F, L), (L, L), (L, F)] {
        conv_projection_matches_ann((2, 7, 6), 3, (3, 3), (1, 1), Padding::Valid, layouts);
        conv_projection_matches_ann((3, 7, 8), 4, (3, 2), (2, 2), Padding::Same, layouts);
    }
    // Channel counts with a fixed-width delivery path (8, 16, 32, 64) and one without (24).
    for co in [8, 16, 24, 32, 64] {
        conv_projection_matches_ann((2, 6, 5), co, (3, 3), (1, 1), Padding::Same, (L, L));
    }
    // A target of 8·30·30 = 7 200 neurons spans several blocks: runs are clipped at block edges.
    conv_projection_matches_ann((1, 32, 32), 8, (3, 3), (1, 1), Padding::Valid, (F, L));
    conv_projection_matches_ann((1, 32, 32), 8, (3, 3), (1, 1), Padding::Valid, (F, F));
}

#[test]
fn a_convolution_adds_the_bits_of_its_explicit_synapse_list_with_many_spikes_per_position() {
    // 200 channels-last input channels at 4×4 positions, some with one to five firing, some
    // with about two thirds: up to 134 spikes share a position, more than the delivery takes in
    // one group, so groups are split. Every post must still add its inputs in spike order: the same bits as the explicit
    // synapse list of the same kernel, delivered spike by spike.
    use somnet::network::{Conv2dGeometry, ImageLayout};
    let (ci, h, w, co) = (200usize, 4usize, 4usize, 16usize);
    let g = Conv2dGeometry {
        input: (ci, h, w),
        out_channels: co,
        kernel: (3, 3),
        stride: (1, 1),
        pad: (1, 1),
        output: (h, w),
        input_layout: ImageLayout::ChannelsLast,
        output_layout: ImageLayout::ChannelsLast,
    };
    // Weights of mixed magnitude, so that the order of the additions shows in the bits.
    let kernel: Vec<f32> = (0..g.n_weights())
        .map(|k| ((k * 7919) % 1009) as f32 / 13.0 - 38.0 + (k % 5) as f32 * 1e-3)
        .collect();
    // Positions with 1 to 5 spikes (the straight-line group sizes and the first past them) and
    // positions with about two thirds of their channels firing.
    let per_position = [1usize, 2, 3, 4, 5, ci];
    let spikes: Vec<u32> = (0..(ci * h * w) as u32)
        .filter(|&i| {
            let (pos, c) = (i as usize / ci, i as usize % ci);
            c < per_position[pos % per_position.len()] && (per_position[pos % 6] < ci || i % 3 != 1)
        })
        .collect();
    let mut net = net_1ms(0);
    let src = net.add_external_source("image", ci * h * w).unwrap();
    let by_kernel = net
        .add_population("kernel", g.n_post(), integrator(), vec![Port::Delta])
        .unwrap();
    let by_list = net
        .add_population("list", g.n_post(), integrator(), vec![Port::Delta])
        .unwrap();
    let p = net
        .connect_conv(src, by_kernel, g, &kernel, 0, "conv")
        .unwrap();
    let syn = net.projection(p).synapses();
    let pairs = syn.iter().map(|s| (s.0, s.1)).collect();
    let weights = Weights::Values(syn.iter().map(|s| s.2).collect());
    net.connect(
        src,
        by_list,
        Connection::new(Connector::List(pairs), weights).delay(Delay::Steps(0)),
    )
    .unwrap();
    net.inject_spikes(src, &spikes).unwrap();
    net.step();
    let a = net.state(by_kernel, StateVar::V).unwrap();
    let b = net.state(by_list, StateVar::V).unwrap();
    assert!(a.iter().any(|&v| v != 0.0));
    for (j, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(x.to_bits(), y.to_bits(), "post {j}: {x} vs {y}");
    }
}

#[test]
fn convolution_projections_refuse_bad_geometry_and_plasticity() {
    use somnet::network::{Conv2dGeometry, ImageLayout};
    let mut net = Network::new(NetworkConfig::default()).unwrap();
    let src = net.add_external_source("image", 16).unwrap();
    let tgt = net
        .add_population("conv", 9, integrator(), vec![Port::Delta])
        .unwrap();
    let g = Conv2dGeometry {
        input: (1, 4, 4),
        out_channels: 1,
        kernel: (2, 2),
        stride: (1, 1),
        pad: (0, 0),
        output: (3, 3),
        input_layout: ImageLayout::ChannelsFirst,
        output_layout: ImageLayout::ChannelsLast,
    };
    let err = net
        .connect_conv(src, tgt, g, &[1.0; 3], 0, "short")
        .unwrap_err();
    assert!(err.to_string().contains("kernel"), "{err}");
    let err = net
        .connect_conv(src, tgt, g, &[1.0, f32::NAN, 1.0, 1.0], 0, "nan")
        .unwrap_err();
    assert!(err.to_string().contains("finite"), "{err}");
    let wrong = Conv2dGeometry {
        output: (2, 2),
        ..g
    };
    let err = net
        .connect_conv(src, tgt, wrong, &[1.0; 4], 0, "sizes")
        .unwrap_err();
    assert!(err.to_string().contains("ranges hold 16 and 9"), "{err}");
    let p = net.connect_conv(src, tgt, g, &[1.0; 4], 0, "ok").unwrap();
    struct Nothing;
    impl somnet::network::Plasticity for Nothing {
        fn on_step(
            &mut self,
            _: somnet::network::StepSpikes<'_>,
            _: somnet::network::SynapsesMut<'_>,
        ) {
        }
    }
    // A rule that handles the shared kernel may attach (sleep does); a per-synapse rule may not.
    net.set_plasticity(p, Box::new(Nothing)).unwrap();
    let stdp = somnet::network::plasticity::Stdp::new(Default::default()).unwrap();
    let err = net.set_plasticity(p, Box::new(stdp)).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("ok") && msg.contains("weight-shared") && msg.contains("per synapse"),
        "{msg}"
    );
}

#[test]
fn max_gate_passes_the_first_fired_member_at_the_largest_count() {
    // Windows {0, 1, 2} → post 0 (weights 1, 10, 100) and {2, 3} → post 1 (weights 1 000,
    // 10 000); input 2 sits in both. Each step's increase of an integrator is the weight of the
    // member that passed (0: none), worked out by hand from the cumulative counts.
    let mut net = net_1ms(0);
    let src = net.add_external_source("in", 4).unwrap();
    let out = net
        .add_population("pool", 2, integrator(), vec![Port::Delta])
        .unwrap();
    let p = net
        .connect(
            src,
            out,
            Connection::new(
                Connector::List(vec![(0, 0), (1, 0), (2, 0), (2, 1), (3, 1)]),
                Weights::Values(vec![1.0, 10.0, 100.0, 1000.0, 10_000.0]),
            )
            .delay(Delay::Steps(0)),
        )
        .unwrap();
    net.set_max_gate(p).unwrap();
    let steps: [&[u32]; 4] = [&[0, 2], &[2], &[0], &[1, 3]];
    // counts after each step (0,1,2,3): (1,0,1,0) (1,0,2,0) (2,0,2,0) (2,1,2,1)
    let want = [
        [1.0, 1000.0],   // ties at 1: window 0 → input 0 (lowest), window 1 → input 2
        [100.0, 1000.0], // input 2 leads both windows
        [1.0, 0.0],      // input 0 catches up (2 = 2) and fired: it passes; window 1 not touched
        [0.0, 0.0],      // inputs 1 and 3 fire below the maximum: nothing passes
    ];
    let mut before = [0.0f32; 2];
    for (spikes, want) in steps.iter().zip(want) {
        net.inject_spikes(src, spikes).unwrap();
        net.step();
        let v = net.state(out, StateVar::V).unwrap();
        assert_eq!(
            [v[0] - before[0], v[1] - before[1]],
            want,
            "after {spikes:?}"
        );
        before = [v[0], v[1]];
    }
    assert_eq!(net.projection(p).events(), 5, "one event per passed spike");
}

#[test]
fn max_gate_agrees_with_the_rule_applied_window_by_window() {
    // Random windows (one member each: pooling as converted; or overlapping, up to 4 windows per
    // input), random spike trains for 60 steps. What passes each step is compared with the rule
    // applied from scratch: per window, the cumulative counts' maximum over all members, and the
    // lowest-index member that fired this step at that maximum. Every membership has its own
    // integer weight (exact in f32), so a post's increase names the member that passed.
    use rand::{RngExt, SeedableRng};
    for (case, overlapping) in [(0u64, false), (1, true), (2, false), (3, true)] {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(case);
        let (n_in, n_out) = (40usize, 9usize);
        let mut pairs = Vec::new();
        for i in 0..n_in {
            let k = if overlapping {
                rng.random_range(1..=4)
            } else {
                1
            };
            let mut js: Vec<usize> = (0..k).map(|_| rng.random_range(0..n_out)).collect();
            js.sort_unstable();
            js.dedup();
            pairs.extend(js.into_iter().map(|j| (i as u32, j as u32)));
        }
        let weights: Vec<f32> = (0..pairs.len()).map(|k| (k + 1) as f32).collect();
        let mut net = net_1ms(0);
        let src = net.add_external_source("in", n_in).unwrap();
        let out = net
            .add_population("pool", n_out, integrator(), vec![Port::Delta])
            .unwrap();
        let p = net
            .connect(
                src,
                out,
                Connection::new(
                    Connector::List(pairs.clone()),
                    Weights::Values(weights.clone()),
                )
                .delay(Delay::Steps(0)),
            )
            .unwrap();
        net.set_max_gate(p).unwrap();
        let mut counts = vec![0u32; n_in];
        let mut before = vec![0.0f32; n_out];
        let mut passed_total = 0;
        for step in 0..60 {
            let rate = [0.05, 0.3, 0.8][step % 3];
            let spikes: Vec<u32> = (0..n_in as u32).filter(|_| rng.random_bool(rate)).collect();
            for &s in &spikes {
                counts[s as usize] += 1;
            }
            let mut want = vec![0.0f32; n_out];
            for (j, w) in want.iter_mut().enumerate() {
                let members: Vec<(usize, f32)> = pairs
                    .iter()
                    .zip(&weights)
                    .filter(|((_, post), _)| *post as usize == j)
                    .map(|(&(pre, _), &w)| (pre as usize, w))
                    .collect();
                let best = members.iter().map(|&(i, _)| counts[i]).max().unwrap_or(0);
                if let Some(&(_, wt)) = members
                    .iter()
                    .find(|&&(i, _)| spikes.contains(&(i as u32)) && counts[i] == best)
                {
                    *w = wt;
                    passed_total += 1;
                }
            }
            net.inject_spikes(src, &spikes).unwrap();
            net.step();
            let v = net.state(out, StateVar::V).unwrap();
            let got: Vec<f32> = v.iter().zip(&before).map(|(a, b)| a - b).collect();
            assert_eq!(got, want, "case {case}, step {step}");
            before = v.to_vec();
        }
        assert!(passed_total > 30, "case {case}: too few passes to compare");
        assert_eq!(net.projection(p).events(), passed_total as u64);
    }
}

#[test]
fn one_weight_for_a_whole_projection_is_delivered_until_a_weight_changes() {
    // Delivery adds a projection's single weight without reading the weights; a projection
    // listing the same weight per synapse must give the same bits, and once a weight is changed
    // through `synapses_mut` the change must arrive.
    let n = 40usize;
    // Source i reaches targets i, i + 1 and i + 2 (mod n), and fires at step i mod 3.
    let pairs: Vec<(u32, u32)> = (0..n as u32)
        .flat_map(|i| (0..3).map(move |k| (i, (i + k) % n as u32)))
        .collect();
    let run = |weights: Weights, change: Option<f32>| {
        let mut net = net_1ms(0);
        let src = net
            .add_spike_source(
                "src",
                &(0..n).map(|i| vec![(i % 3) as f64]).collect::<Vec<_>>(),
            )
            .unwrap();
        let tgt = net
            .add_population("t", n, integrator(), vec![Port::Delta])
            .unwrap();
        let proj = net
            .connect(
                src,
                tgt,
                Connection::new(Connector::List(pairs.clone()), weights),
            )
            .unwrap();
        if let Some(w) = change {
            match net.projection_mut(proj).synapses_mut() {
                somnet::network::SynapsesMut::Sparse { weights, .. } => weights[4] = w,
                _ => panic!("a listed projection is sparse"),
            }
        }
        net.run(5).unwrap();
        net.state(tgt, StateVar::V).unwrap()
    };
    let w = 0.1f32;
    let one = run(Weights::Constant(w), None);
    let listed = run(Weights::Values(vec![w; pairs.len()]), None);
    assert_eq!(one, listed);
    // Every target gets three inputs of w.
    assert!(one.iter().all(|&v| v == (w + w) + w), "{one:?}");
    // Synapse 4 is source 1's second, onto target 2.
    let changed = run(Weights::Constant(w), Some(5.0));
    for (j, (&a, &b)) in changed.iter().zip(&one).enumerate() {
        if j == 2 {
            assert!((a - (b - w + 5.0)).abs() < 1e-5, "target 2: {a}");
        } else {
            assert_eq!(a, b, "target {j}");
        }
    }
}
