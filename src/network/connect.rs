//! Projections: connecting populations (synapse lists by connector, dense matrices,
//! weight-shared convolutions), plasticity rules and max gates on them.

use super::connector::{self, Connector, Delay, Weights};
use super::delay::Ring;
use super::plasticity::{Delays, LayoutSynapses, Plasticity, SynapseLayout};
use super::projection::{self, block_offsets, Csr, MaxGate, Storage};
use super::projection::{Conv2dGeometry, Projection};
use super::{Network, ProjectionId, Target};
use crate::error::{Error, Result};
use crate::neuron::Port;
use crate::rng::Purpose;

/// How a projection is made (see [`Network::connect`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    /// Which synapses exist.
    pub connector: Connector,
    /// Their weights.
    pub weights: Weights,
    /// Their delays (default: 1 step).
    pub delay: Delay,
    /// Receptor port of the post population (default 0).
    pub port: usize,
    /// Whether a neuron may connect to itself when the ranges overlap (default true).
    pub autapses: bool,
    /// A name for errors and reports (default `pre->post`).
    pub name: Option<String>,
}

impl Connection {
    /// A connection with delay 1 step, port 0, autapses allowed.
    pub fn new(connector: Connector, weights: Weights) -> Self {
        Connection {
            connector,
            weights,
            delay: Delay::Steps(1),
            port: 0,
            autapses: true,
            name: None,
        }
    }
    /// Sets the delay.
    pub fn delay(mut self, delay: Delay) -> Self {
        self.delay = delay;
        self
    }
    /// Sets the receptor port.
    pub fn port(mut self, port: usize) -> Self {
        self.port = port;
        self
    }
    /// Excludes synapses from a neuron onto itself.
    pub fn no_autapses(mut self) -> Self {
        self.autapses = false;
        self
    }
    /// Names the projection.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

impl Network {
    /// Connects `pre` to `post` (see [`Connection`]); returns the projection's id.
    pub fn connect(
        &mut self,
        pre: impl Into<Target>,
        post: impl Into<Target>,
        conn: Connection,
    ) -> Result<ProjectionId> {
        let (pre, post) = (pre.into(), post.into());
        let (pi, pre_r) = self.resolve(&pre, "projection pre")?;
        let (qi, post_r) = self.resolve(&post, "projection post")?;
        let name = conn
            .name
            .clone()
            .unwrap_or_else(|| format!("{}->{}", self.pops[pi].name, self.pops[qi].name));
        self.check_not_started(&format!("projection {name}"))?;
        let (n_pre, n_post) = (pre_r.len(), post_r.len());
        let qpop = &self.pops[qi];
        if qpop.is_source() {
            return Err(Error::Unsupported(format!(
                "projection {name}: population '{}' is a spike source and cannot receive synapses",
                qpop.name
            )));
        }
        let port = *qpop
            .ports
            .get(conn.port)
            .ok_or_else(|| Error::IndexOutOfRange {
                what: format!("projection {name}: receptor port of '{}'", qpop.name),
                index: conn.port,
                len: qpop.ports.len(),
            })?;
        let buffer = match port {
            Port::Delta => 0,
            Port::Exponential { .. } | Port::Conductance { .. } => {
                1 + qpop.ports[..conn.port]
                    .iter()
                    .filter(|p| p.has_variable())
                    .count()
            }
        };
        conn.connector.validate(&name, n_pre, n_post)?;
        let seed = self.config.seed;
        let proj_id = self.projs.len() as u64;
        // Autapses are pairs where the pre and post neuron are the same neuron of the same population.
        let same = pi == qi && !conn.autapses;
        let (ps, qs, qe) = (pre_r.start, post_r.start, post_r.end);
        let self_pair = move |i: u32| -> Option<u32> {
            let g = ps + i;
            (same && g >= qs && g < qe).then(|| g - qs)
        };
        let uniform_delay = match &conn.delay {
            Delay::Ms(ms) => Some(
                self.dt
                    .steps_exact(&format!("projection {name}: delay"), *ms)?,
            ),
            Delay::Steps(s) => Some(*s),
            _ => None,
        };
        let storage_dense =
            conn.connector == Connector::AllToAll && uniform_delay.is_some() && !same;
        let (storage, min_delay, max_delay) = if storage_dense {
            conn.weights.validate(&name, n_pre * n_post)?;
            let rows = connector::Rows {
                row_ptr: (0..=n_pre as u64).map(|i| i * n_post as u64).collect(),
                post: Vec::new(),
                source_order: None,
            };
            let weights = match &conn.weights {
                Weights::Values(v) => v.clone(),
                w => {
                    // Draw in row order from the same per-row streams as sparse storage.
                    let fake = connector::Rows {
                        post: vec![0; n_pre * n_post],
                        ..rows
                    };
                    w.draw(seed, proj_id, &fake)
                }
            };
            check_conductance_weights(&name, port, &weights)?;
            let d = uniform_delay.expect("checked above");
            let weights = std::sync::Arc::new(weights);
            (Storage::Dense { weights }, d, d)
        } else {
            let rows = conn.connector.rows(seed, proj_id, n_pre, n_post, self_pair);
            let n_syn = rows.post.len();
            conn.weights.validate(&name, n_syn)?;
            let weights = conn.weights.draw(seed, proj_id, &rows);
            check_conductance_weights(&name, port, &weights)?;
            let (delays, lo, hi) = match (&conn.delay, uniform_delay) {
                (_, Some(d)) => (None, d, d),
                (Delay::UniformMs { low_ms, high_ms }, None) => {
                    let lo = (low_ms / self.dt.ms() - 1e-9).ceil().max(0.0) as u32;
                    let hi = (high_ms / self.dt.ms() + 1e-9).floor().max(0.0) as u32;
                    if !(low_ms.is_finite() && high_ms.is_finite()) || *low_ms < 0.0 || lo > hi {
                        return Err(Error::param(
                            format!("projection {name}: delay range"),
                            format!("[{low_ms}, {high_ms}] ms"),
                            format!(
                                "finite, >= 0 and containing a whole step of {} ms",
                                self.dt.ms()
                            ),
                        ));
                    }
                    if hi > self.max_delay_steps {
                        return Err(Error::DelayTooLong {
                            what: format!("projection {name}"),
                            delay_steps: hi,
                            max_steps: self.max_delay_steps,
                        });
                    }
                    let span = (hi - lo + 1) as u64;
                    let d = connector::draw_per_row(seed, proj_id, Purpose::Delays, &rows, |rng| {
                        lo as u16 + crate::rng::below(rng, span) as u16
                    });
                    (Some(d), lo, hi)
                }
                (Delay::ValuesMs(values), None) => {
                    if values.len() != n_syn {
                        return Err(Error::SizeMismatch {
                            what: format!("projection {name}: delays"),
                            expected: n_syn,
                            got: values.len(),
                        });
                    }
                    // The field's name once, not per synapse: formatting it for each of the
                    // polychronization network's 100 000 delays was most of its construction.
                    let what = format!("projection {name}: delay");
                    let steps = values
                        .iter()
                        .map(|&ms| self.dt.steps_exact(&what, ms))
                        .collect::<Result<Vec<u32>>>()?;
                    let ordered: Vec<u32> = match &rows.source_order {
                        Some(order) => order.iter().map(|&o| steps[o as usize]).collect(),
                        None => steps,
                    };
                    let (lo, hi) = (
                        ordered.iter().copied().min().unwrap_or(0),
                        ordered.iter().copied().max().unwrap_or(0),
                    );
                    (
                        Some(
                            ordered
                                .iter()
                                .map(|&d| d.min(u16::MAX as u32) as u16)
                                .collect(),
                        ),
                        lo,
                        hi,
                    )
                }
                _ => unreachable!("uniform delays handled above"),
            };
            let qpop = &self.pops[qi];
            let n_blocks = qpop.blocks.len();
            // The per-row block index grows with pre neurons × post blocks: bounded before it
            // is allocated.
            crate::limits::check(
                format!("projection '{}'", name),
                &format!(
                    "the block index of {} rows × {} blocks",
                    rows.row_ptr.len() - 1,
                    n_blocks + 1
                ),
                4 * (rows.row_ptr.len() as u128 - 1) * (n_blocks as u128 + 1),
            )?;
            let block_ptr = block_offsets(
                &rows.row_ptr,
                &rows.post,
                post_r.start,
                qpop.block_size,
                n_blocks,
            );
            // Every pre neuron with exactly one synapse (a pooling layer whose windows tile the
            // image, a one-to-one map): row i is synapse i.
            let one_each = rows.post.len() == rows.row_ptr.len() - 1
                && rows.row_ptr.iter().enumerate().all(|(i, &r)| r == i as u64);
            (
                Storage::Sparse(Csr {
                    one_each,
                    uniform: Csr::uniform_of(&weights),
                    row_ptr: rows.row_ptr,
                    post: rows.post,
                    weights,
                    delays,
                    block_ptr,
                    n_blocks,
                }),
                lo,
                hi,
            )
        };
        if max_delay > self.max_delay_steps {
            return Err(Error::DelayTooLong {
                what: format!("projection {name}"),
                delay_steps: max_delay,
                max_steps: self.max_delay_steps,
            });
        }
        if min_delay == 0 && pi >= qi {
            return Err(Error::ZeroDelayBackward {
                what: format!("projection {name}"),
            });
        }
        // Every ring of the target must cover the longest delay into it.
        let needed = max_delay as usize + 1;
        for blk in &mut self.pops[qi].blocks {
            if blk.rings[0].n_slots() < needed {
                for ring in &mut blk.rings {
                    *ring = Ring::new(blk.len, needed);
                }
            }
        }
        if buffer == 0 {
            self.pops[qi].delta_fed = true;
        }
        let direct = self.delivers_direct(pi, qi, buffer, uniform_delay);
        if buffer > 0 && !direct {
            self.pops[qi].port_rings_fed = true;
        }
        // One synapse per pre neuron, between two populations: the projection may be delivered
        // from the pre population's firing flags when its runs are long enough (pooling windows
        // over channels-last images; see `projection::FlagPlan`).
        let flag_plan = match &storage {
            Storage::Sparse(csr) if csr.one_each && csr.delays.is_none() && pi != qi => {
                projection::FlagPlan::build(n_post, &csr.post).map(std::sync::Arc::new)
            }
            _ => None,
        };
        self.projs.push(Projection {
            name,
            pre: pi,
            pre_start: pre_r.start,
            n_pre: n_pre as u32,
            post: qi,
            post_start: post_r.start,
            n_post: n_post as u32,
            buffer,
            storage,
            delay_steps: uniform_delay.unwrap_or(0),
            direct,
            plasticity: None,
            events: 0,
            gate: None,
            flag_plan,
        });
        self.local_spikes.push(Vec::new());
        let j = self.projs.len() - 1;
        match self.out_by_post[pi].iter_mut().find(|(q, _)| *q == qi) {
            Some((_, list)) => list.push(j),
            None => self.out_by_post[pi].push((qi, vec![j])),
        }
        Ok(ProjectionId(j as u32))
    }

    /// Whether a projection from population `pi` into receptor buffer `buffer` of population
    /// `qi`, with `delay` steps when uniform (`None`: per synapse), delivers its input straight
    /// into the port's variable rather than through the port's delay ring.
    ///
    /// It does when the delay is one step, the buffer is an exponential or conductance port of an
    /// IF or LIF population, and that population comes no later than the sending one in the
    /// schedule (`qi ≤ pi`: a recurrent projection, or feedback). A spike of step t is then
    /// delivered after the post population's update of step t, and what it adds is read by the
    /// update of step t + 1, which reads the variable anyway: the ring only carried the input
    /// there, at the cost of reading, adding and clearing a slot for every neuron at every step
    /// (two of the seven stores per 16 neurons of CUBA's membrane pass). The input reaches the
    /// membrane at the same step either way. Two things differ from a ring: the inputs of one
    /// step add into the variable one after the other instead of into a zero slot first
    /// (rounding), and a recording of the variable at step t, in the population that sent the
    /// spike, already holds the input (undecayed), where the ring showed it first at t + 1,
    /// decayed by one step, as both do from then on.
    pub(crate) fn delivers_direct(
        &self,
        pi: usize,
        qi: usize,
        buffer: usize,
        delay: Option<u32>,
    ) -> bool {
        use super::population::Dynamics;
        let integrates = matches!(self.pops[qi].dynamics, Dynamics::Lif(_) | Dynamics::Iaf(_));
        delay == Some(1) && buffer > 0 && qi <= pi && integrates
    }

    /// Connects `pre` to `post` by a **weight-shared 2-D convolution**: both ranges hold images
    /// numbered as `geometry` says (channels-first or channels-last), and `kernel` holds the (C_out, C_in, kh, kw)
    /// weights shared by every position. Delivery walks the kernel taps a spike reaches (no
    /// per-synapse list: memory is the kernel, cost is spikes × out-degree), and adds exactly what
    /// the explicit synapse list would, in the same order. `delay_steps` is uniform.
    ///
    /// ```
    /// use somnet::network::{Conv2dGeometry, ImageLayout, Network, NetworkConfig};
    /// use somnet::neuron::{IafParams, NeuronModel, Port};
    /// let mut net = Network::new(NetworkConfig { dt_ms: 1.0, ..NetworkConfig::default() }).unwrap();
    /// let src = net.add_external_source("image", 9).unwrap();
    /// let out = net.add_population("conv", 4, NeuronModel::Iaf(IafParams::default()), vec![Port::Delta]).unwrap();
    /// // 3×3 input, one 2×2 kernel, stride 1, no padding: a 2×2 output.
    /// let g = Conv2dGeometry { input: (1, 3, 3), out_channels: 1, kernel: (2, 2), stride: (1, 1),
    ///                          pad: (0, 0), output: (2, 2), input_layout: ImageLayout::ChannelsFirst,
    ///                          output_layout: ImageLayout::ChannelsLast };
    /// let p = net.connect_conv(src, out, g, &[1.0, 2.0, 3.0, 4.0], 0, "conv").unwrap();
    /// // The centre pixel is under every output, through a different tap each time.
    /// assert_eq!(net.projection(p).synapses().len(), 16);
    /// ```
    pub fn connect_conv(
        &mut self,
        pre: impl Into<Target>,
        post: impl Into<Target>,
        geometry: Conv2dGeometry,
        kernel: &[f32],
        delay_steps: u32,
        name: &str,
    ) -> Result<ProjectionId> {
        let g = geometry;
        let positive = [
            g.input.0,
            g.input.1,
            g.input.2,
            g.out_channels,
            g.kernel.0,
            g.kernel.1,
            g.stride.0,
            g.stride.1,
            g.output.0,
            g.output.1,
        ];
        if positive.contains(&0) {
            return Err(Error::param(
                format!("projection {name}: convolution geometry"),
                format!("{g:?}"),
                "positive sizes and strides",
            ));
        }
        if kernel.len() != g.n_weights() {
            return Err(Error::SizeMismatch {
                what: format!("projection {name}: kernel weights (C_out·C_in·kh·kw)"),
                expected: g.n_weights(),
                got: kernel.len(),
            });
        }
        if let Some(i) = kernel.iter().position(|w| !w.is_finite()) {
            return Err(Error::param(
                format!("projection {name}: kernel[{i}]"),
                kernel[i],
                "a finite number",
            ));
        }
        let (pre, post) = (pre.into(), post.into());
        let (_, pre_r) = self.resolve(&pre, "projection pre")?;
        let (_, post_r) = self.resolve(&post, "projection post")?;
        if pre_r.len() != g.n_pre() || post_r.len() != g.n_post() {
            return Err(Error::Unsupported(format!(
                "projection {name}: the convolution maps {} inputs to {} outputs, but the ranges \
                 hold {} and {} neurons",
                g.n_pre(),
                g.n_post(),
                pre_r.len(),
                post_r.len()
            )));
        }
        // An empty projection goes through every check of `connect` (schedule, delay, port);
        // then it gets the convolution's storage.
        let conn = Connection::new(Connector::List(Vec::new()), Weights::Values(Vec::new()))
            .delay(Delay::Steps(delay_steps))
            .named(name);
        let id = self.connect(pre, post, conn)?;
        let j = id.0 as usize;
        self.projs[j].storage = Storage::Conv(projection::ConvKernel::new(g, kernel));
        Ok(id)
    }

    /// Attaches a plasticity rule to a projection (replacing any earlier one).
    pub fn set_plasticity(&mut self, proj: ProjectionId, rule: Box<dyn Plasticity>) -> Result<()> {
        let j = self.proj_index(proj)?;
        let mut rule = rule;
        let proj = &self.projs[j];
        let synapses = match &proj.storage {
            Storage::Dense { weights } => LayoutSynapses::Dense {
                weights,
                delay_steps: proj.delay_steps,
            },
            Storage::Sparse(csr) => LayoutSynapses::Sparse {
                row_ptr: &csr.row_ptr,
                post: &csr.post,
                weights: &csr.weights,
                delays: match &csr.delays {
                    Some(d) => Delays::PerSynapse(d),
                    None => Delays::Uniform(proj.delay_steps),
                },
            },
            Storage::Conv(k) => LayoutSynapses::Shared {
                geometry: k.geometry,
                taps: &k.taps,
                delay_steps: proj.delay_steps,
            },
        };
        rule.attach(&SynapseLayout {
            projection: &proj.name,
            n_pre: proj.n_pre as usize,
            n_post: proj.n_post as usize,
            dt_ms: self.config.dt_ms,
            // A pre-population later in the schedule has not updated yet when the post one's
            // plasticity runs: its latest spikes are the previous step's.
            pre_lag_steps: u64::from(proj.pre > proj.post),
            synapses,
        })?;
        let post = proj.post;
        if !self.plastic_into[post].contains(&j) {
            self.plastic_into[post].push(j);
        }
        self.projs[j].plasticity = Some(rule);
        Ok(())
    }

    /// Turns a sparse projection with one delay into a **max gate**: each post neuron's window is
    /// its pre neurons, and per step it receives at most one spike — that of a window member with
    /// the largest cumulative spike count so far (counting this step's spikes; ties to the lowest
    /// index), with that synapse's weight. This is how converted max pooling passes the spikes of
    /// its most active input (Rueckauer et al. 2017, Sec. 2.2.6). Counts restart at
    /// [`Network::reset`]. One synaptic operation is counted per passed spike.
    ///
    /// ```
    /// use somnet::network::{Connection, Connector, Delay, Network, NetworkConfig, Weights};
    /// use somnet::neuron::{IafParams, NeuronModel, Port};
    /// let mut net = Network::new(NetworkConfig { dt_ms: 1.0, ..NetworkConfig::default() }).unwrap();
    /// let src = net.add_external_source("in", 2).unwrap();
    /// let out = net.add_population("pool", 1, NeuronModel::Iaf(IafParams::default()), vec![Port::Delta]).unwrap();
    /// let conn = Connection::new(Connector::List(vec![(0, 0), (1, 0)]), Weights::Constant(1.0))
    ///     .delay(Delay::Steps(0));
    /// let p = net.connect(src, out, conn).unwrap();
    /// net.set_max_gate(p).unwrap();
    /// // Input 0 fires twice, then input 1 once: 1's count (1) is below 0's (2), so it is blocked.
    /// let mut fired = Vec::new();
    /// for spikes in [&[0u32][..], &[0], &[1]] {
    ///     net.inject_spikes(src, spikes).unwrap();
    ///     net.step();
    ///     fired.push(net.population(out).last_spikes().len());
    /// }
    /// assert_eq!(fired, vec![1, 1, 0]);
    /// ```
    pub fn set_max_gate(&mut self, proj: ProjectionId) -> Result<()> {
        let j = self.proj_index(proj)?;
        let p = &mut self.projs[j];
        match &p.storage {
            Storage::Sparse(csr) if csr.delays.is_none() => {
                p.gate = Some(MaxGate::new(p.n_pre as usize, p.n_post as usize));
                Ok(())
            }
            _ => Err(Error::Unsupported(format!(
                "projection {}: a max gate needs sparse storage (a List or probabilistic \
                 connector) and one delay for all synapses",
                p.name
            ))),
        }
    }
}

/// A conductance cannot be negative: its weights must be ≥ 0 (inhibition comes from a reversal
/// potential below rest, not from a negative weight).
fn check_conductance_weights(name: &str, port: Port, weights: &[f32]) -> Result<()> {
    if port.reversal_mv().is_none() {
        return Ok(());
    }
    match weights.iter().position(|w| w.is_nan() || *w < 0.0) {
        Some(i) => Err(Error::param(
            format!("projection {name}: weight[{i}] onto a conductance port"),
            weights[i],
            "a conductance increment >= 0 (inhibition comes from the port's reversal potential)",
        )),
        None => Ok(()),
    }
}
