//! The LSP shell: protocol in, core calls, protocol out. The only module that knows
//! `tower_lsp_server`; it converts in `from_proto` / `to_proto` and keeps no logic of its own.

mod assist;
mod config;
mod diagnostics;
mod docs;
mod ext;
pub mod framing;
mod from_proto;
mod host;
mod learn;
pub mod line_index;
mod reindex;
mod server;
mod stdio;
mod to_proto;
mod workers;

pub use config::Settings;

use tower_lsp_server::LspService;

/// Serves LSP on stdin/stdout until the client exits or closes the stream.
pub fn run_stdio() -> std::io::Result<()> {
    let data_dir = spot_base::data_dir::resolve();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("spot-lsp")
        .build()?;
    let input = stdio::stdin()?;
    let mut output = stdio::stdout()?;
    runtime.block_on(async {
        let mut backend = None;
        let (service, socket) = LspService::build(|client| {
            let server = server::Backend::new(client, data_dir);
            backend = Some(server.clone());
            server
        })
        .custom_method(
            "window/workDoneProgress/cancel",
            server::Backend::progress_cancel,
        )
        .finish();
        // End of input without `exit`: the client is gone; stop its jobs and end.
        let client_gone = move || {
            if let Some(backend) = &backend {
                backend.client_gone();
            }
        };
        framing::serve(
            input,
            &mut output,
            service,
            socket,
            framing::FrameLimits::default(),
            client_gone,
        )
        .await;
    });
    // The last replies (to shutdown) may still be queued for the writer thread.
    output.drain(std::time::Duration::from_secs(2));
    // Blocking tasks (a build in progress) must not keep the process alive after exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    Ok(())
}
