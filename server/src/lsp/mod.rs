//! The language server (placeholder while the server is written).
pub fn run_stdio() -> std::io::Result<()> {
    Ok(())
}
