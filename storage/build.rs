//! The migrations are embedded at compile time (`diesel_migrations::embed_migrations!`): a new
//! or changed migration folder must rebuild this crate.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
