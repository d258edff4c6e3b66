// spot's LSP extensions as the client sees them. The types and constants are generated from the
// server's definitions (crates/spot-lsp/src/ext.rs → protocol.generated.ts, written by its test
// with ts-rs: `UPDATE_EXPECT=1 cargo test -p spot-lsp ext`), so the client cannot drift from the
// server; docs/lsp-extensions.md describes them. Import them from here.
export * from './protocol.generated';
