//! The template engine on files named in a JSON request, for `bench/templates/eval.py`:
//! `template_candidates REQUEST.json ANSWER.json`. A request is a list of cases
//! `{"id", "lang", "file", "sites": [{"line", "weight"}], "project": [files], "limit"}`; the
//! project's files give the functions by arity (`Scope::functions`). The answer is a list of
//! `{"id", "candidates": [...]}`, each candidate as `templates::Candidate` serializes. Writes a
//! file, never stdout (stdout belongs to the shells).

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use spot_assist::templates::{self, Candidate, Scope, Site};
use spot_index::lang::LangSpec;
use spot_index::{DefKind, Lang};

#[derive(Deserialize)]
struct Case {
    id: String,
    lang: String,
    file: String,
    sites: Vec<SiteIn>,
    #[serde(default)]
    project: Vec<String>,
    limit: usize,
}

#[derive(Deserialize)]
struct SiteIn {
    line: u32,
    weight: f64,
}

#[derive(serde::Serialize)]
struct Answer {
    id: String,
    candidates: Vec<Candidate>,
}

fn lang_of(name: &str) -> Option<Lang> {
    Lang::ALL.into_iter().find(|l| l.name() == name)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(request), Some(answer)) = (args.get(1), args.get(2)) else {
        return Err("usage: template_candidates REQUEST.json ANSWER.json".into());
    };
    let cases: Vec<Case> = serde_json::from_str(&std::fs::read_to_string(request)?)?;
    let mut out = Vec::new();
    for case in cases {
        let lang = lang_of(&case.lang).ok_or_else(|| format!("unknown language {}", case.lang))?;
        let text = std::fs::read_to_string(&case.file)?;
        let mut by_arity: HashMap<usize, Vec<String>> = HashMap::new();
        for file in &case.project {
            let Some(file_lang) = Lang::from_path(Path::new(file)) else {
                continue;
            };
            let Ok(source) = std::fs::read_to_string(file) else {
                continue;
            };
            for def in spot_index::index_text(file_lang, file, &source).defs {
                if !matches!(def.kind, DefKind::Function | DefKind::Method) {
                    continue;
                }
                if let Some(n) = templates::signature_arity(file_lang, &def.signature) {
                    by_arity.entry(n).or_default().push(def.name);
                }
            }
        }
        let functions = |n: usize| by_arity.get(&n).cloned().unwrap_or_default();
        let scope = Scope {
            variables: &|_| Vec::new(),
            functions: &functions,
        };
        let mut parser = tree_sitter::Parser::new();
        parser.set_language(&LangSpec::get(lang).grammar)?;
        let tree = parser
            .parse(&text, None)
            .ok_or("tree-sitter gave no tree")?;
        let sites: Vec<Site> = case
            .sites
            .iter()
            .map(|s| Site {
                line: s.line,
                weight: s.weight,
            })
            .collect();
        let candidates = templates::candidates(lang, &text, &tree, &sites, &scope, case.limit);
        out.push(Answer {
            id: case.id,
            candidates,
        });
    }
    std::fs::write(answer, serde_json::to_string(&out)?)?;
    Ok(())
}
