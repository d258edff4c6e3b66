//! A generated fixture repository (Python, Rust, TypeScript, Go) big enough to make the server
//! work — cross-module imports, classes, methods, doc comments — and deterministic, so every run
//! indexes the same symbols. Also the sentinel file the storm tests query afterwards.

use std::path::Path;

/// Python modules in `pkg/`; each also gets a Rust, TypeScript and Go sibling every 3rd index.
pub const MODULES: usize = 40;
pub const HELPERS: usize = 5;
/// A symbol no storm touches: answered correctly after every storm.
pub const SENTINEL: &str = "sentinel_function_xyz";
pub const SENTINEL_FILE: &str = "pkg/sentinel.py";

pub fn write(root: &Path) {
    let w = |rel: &str, text: String| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(path, text).expect("write fixture file");
    };
    w("pkg/__init__.py", String::new());
    for i in 0..MODULES {
        let j = (i * 7 + 3) % MODULES;
        let mut py = format!(
            "\"\"\"Module {i}.\"\"\"\nfrom pkg.mod_{j} import helper_{j}_0\n\nCONST_{i} = {i}\n\n\n\
             class Widget{i}:\n    \"\"\"A widget number {i}.\"\"\"\n\n    def __init__(self, size):\n        \
             self.size = size\n\n    def grow_{i}(self, by):\n        total = self.size + by\n        \
             return helper_{j}_0(total)\n"
        );
        for k in 0..HELPERS {
            py.push_str(&format!(
                "\n\ndef helper_{i}_{k}(value):\n    \"\"\"Helper {k} of module {i}.\"\"\"\n    \
                 result = value * {k}\n    return result\n"
            ));
        }
        w(&format!("pkg/mod_{i}.py"), py);
        if i % 3 == 0 {
            w(
                &format!("src/m{i}.rs"),
                format!(
                    "/// Ledger {i}.\npub struct Ledger{i} {{\n    pub total: u64,\n}}\n\n\
                     impl Ledger{i} {{\n    /// Adds to ledger {i}.\n    pub fn add_{i}(&mut self, n: u64) -> u64 {{\n        \
                     let before = self.total;\n        self.total = before + n;\n        self.total\n    }}\n}}\n"
                ),
            );
            w(
                &format!("web/w{i}.ts"),
                format!(
                    "export interface Order{i} {{\n  id: number;\n}}\n\n/** Totals {i}. */\n\
                     export function total{i}(orders: Order{i}[]): number {{\n  return orders.length;\n}}\n"
                ),
            );
            w(
                &format!("svc/s{i}.go"),
                format!(
                    "package svc\n\n// Handler{i} serves.\ntype Handler{i} struct {{\n\tName string\n}}\n\n\
                     // Serve{i} answers.\nfunc (h *Handler{i}) Serve{i}(p string) string {{\n\tg := \"hi \" + p\n\treturn g\n}}\n"
                ),
            );
        }
    }
    w(
        SENTINEL_FILE,
        format!("def {SENTINEL}():\n    \"\"\"Never edited by any storm.\"\"\"\n    return 42\n"),
    );
    w(".gitignore", "build/\n".to_owned());
}

/// Number of indexable files `write` creates.
pub fn file_count() -> usize {
    let per_three = MODULES.div_ceil(3);
    1 + MODULES + 3 * per_three + 1
}
