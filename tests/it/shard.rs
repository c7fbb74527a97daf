//! Sharded evaluation (issue 15): shards of one evaluation merge into exactly the figures of the
//! unsharded run, whatever the split and order; a missing, repeated or foreign shard is refused.

use std::ops::ControlFlow;

use somnet::convert::options::ConvertOptions;
use somnet::convert::pipeline::{calibration_set, convert, evaluate, Converted};
use somnet::convert::record::Evaluation;
use somnet::convert::shard::{evaluate_shard, merge, range, Shard};
use somnet::data::{default_dir, load_named, Dataset, Split};

fn setup() -> (Converted, Dataset) {
    let ann = somnet::io::schema::load(std::path::Path::new("tests/golden/mlp.h5"))
        .unwrap()
        .ann;
    let train = load_named("mnist", &default_dir(), Split::Train).unwrap();
    let test = load_named("mnist", &default_dir(), Split::Test)
        .unwrap()
        .head(610);
    let snn = convert(
        &ann,
        &calibration_set(&train, 300),
        &ConvertOptions::default(),
    )
    .unwrap();
    (snn, test)
}

fn go(_: usize) -> ControlFlow<()> {
    ControlFlow::Continue(())
}

fn without_timing(mut e: Evaluation) -> Evaluation {
    e.images_per_second = 0.0;
    e
}

#[test]
fn merged_shards_equal_the_unsharded_run_in_every_field_but_timing() {
    let (snn, test) = setup();
    let mut options = ConvertOptions::default();
    // Poisson input and early exit: random streams and per-sample step counts must both line up.
    options.set("input", "poisson").unwrap();
    options.set("early-exit", "3").unwrap();
    options.set("seed", "4").unwrap();
    let whole = without_timing(evaluate(&snn, &test, 12, &options, go).unwrap());
    for count in [1, 3, 7] {
        let mut shards: Vec<Shard> = (0..count)
            .map(|i| evaluate_shard(&snn, &test, i, count, 12, &options, go).unwrap())
            .collect();
        shards.reverse(); // any order
        let merged = without_timing(merge(shards).unwrap());
        assert_eq!(merged, whole, "{count} shards");
    }
}

#[test]
fn shard_ranges_are_contiguous_and_cover_every_sample_once() {
    let mut next = 0;
    for i in 0..7 {
        let r = range(610, i, 7).unwrap();
        assert_eq!(r.start, next);
        assert!(r.len() == 87 || r.len() == 88, "{r:?}");
        next = r.end;
    }
    assert_eq!(next, 610);
    assert!(range(5, 0, 6)
        .unwrap_err()
        .to_string()
        .contains("at most 5 shards"));
    assert!(range(5, 3, 3).is_err());
}

#[test]
fn missing_repeated_and_foreign_shards_are_refused() {
    let (snn, test) = setup();
    let test = test.head(100);
    let o = ConvertOptions::default();
    let shard = |i, n, o: &ConvertOptions| evaluate_shard(&snn, &test, i, n, 4, o, go).unwrap();
    let (a, b, c) = (shard(0, 3, &o), shard(1, 3, &o), shard(2, 3, &o));
    let err = |shards: Vec<Shard>| merge(shards).unwrap_err().to_string();
    assert!(err(vec![a.clone(), c.clone()]).contains("shard 1/3 is missing"));
    assert!(err(vec![a.clone(), a.clone(), b.clone(), c.clone()]).contains("given twice"));
    let mut zero = o.clone();
    zero.set("reset", "zero").unwrap();
    let foreign = shard(1, 3, &zero);
    assert!(err(vec![a.clone(), foreign, c.clone()]).contains("'options'"));
    assert!(err(vec![a, shard(1, 2, &o)]).contains("'count'"));
    assert!(err(vec![]).contains("no shards"));
}
