fn main() {
    let path = std::env::args().nth(1).unwrap();
    let f = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
    let p = regcache::progress::read_log(f).unwrap();
    let s = regcache::stats::compute(&p);
    println!("{} steps={} cached={} failed={} notrun={} v={}/{}/{} imports={:?} exports={:?} err={:?}", path.rsplit('/').next().unwrap(), s.total_steps, s.cached_steps, s.failed_steps, s.not_run_steps, s.vertices.total, s.vertices.cached, s.vertices.completed, s.imports.iter().map(|i| (&i.reference, &i.outcome, i.seconds)).collect::<Vec<_>>(), s.exports.iter().map(|e|(e.ok, e.seconds)).collect::<Vec<_>>(), s.final_error);
}
