// A std HashMap workload as Rust programs are written: format! keys, entry(), get(); its hot code is
// hashbrown and SipHash trait impls (<core::hash::sip::Hasher<S> as core::hash::Hasher>::write).
use std::collections::HashMap;
use std::hint::black_box;

fn fill(map: &mut HashMap<String, u64>, round: u64) {
    for i in 0..2000u64 {
        *map.entry(format!("key-{}", (i * 7919 + round) % 5000)).or_insert(0) += i;
    }
}

fn lookup(map: &HashMap<String, u64>) -> u64 {
    let mut total = 0;
    for i in 0..2000u64 {
        if let Some(v) = map.get(&format!("key-{}", i)) { total += v; }
    }
    total
}

fn main() {
    let seconds: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(30);
    let start = std::time::Instant::now();
    let mut map = HashMap::new();
    let mut round = 0;
    while start.elapsed().as_secs() < seconds {
        fill(&mut map, round);
        black_box(lookup(&map));
        round += 1;
    }
}
