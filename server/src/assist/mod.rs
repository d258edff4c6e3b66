//! Assists: join the index and the model — localize an issue, (later) prompt, generate, parse,
//! validate and turn the result into edits. Returns plain structs; no LSP.

pub mod localize;
