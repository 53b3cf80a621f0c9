//! `dtk`, the DetectK command line.

fn main() {
    let registry = detectk_cli::registry();
    println!("{registry:?}");
}
