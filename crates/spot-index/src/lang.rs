//! Languages spot indexes: detection from the file name, tree-sitter grammars, and for each
//! grammar a table from node kind id to the role the extractor gives it.
//!
//! The tables are built once per process ([`LangSpec::get`]); the extractor looks roles up by
//! kind id instead of comparing strings on every node.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::file::DefKind;

/// A language with a tree-sitter grammar in spot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Lang {
    Rust,
    Python,
    JavaScript,
    TypeScript,
    Tsx,
    Go,
}

impl Lang {
    pub const ALL: [Lang; 6] = [
        Lang::Rust,
        Lang::Python,
        Lang::JavaScript,
        Lang::TypeScript,
        Lang::Tsx,
        Lang::Go,
    ];

    /// Detects the language from a path's extension.
    pub fn from_path(path: &std::path::Path) -> Option<Lang> {
        let ext = path.extension()?.to_str()?;
        Some(match ext {
            "rs" => Lang::Rust,
            "py" | "pyi" => Lang::Python,
            "js" | "mjs" | "cjs" | "jsx" => Lang::JavaScript,
            "ts" | "mts" | "cts" => Lang::TypeScript,
            "tsx" => Lang::Tsx,
            "go" => Lang::Go,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::JavaScript => "javascript",
            Lang::TypeScript => "typescript",
            Lang::Tsx => "tsx",
            Lang::Go => "go",
        }
    }

    /// Separator between a container and a member in qualified names (`Store::new`, `Store.add`).
    pub fn path_separator(self) -> &'static str {
        match self {
            Lang::Rust => "::",
            _ => ".",
        }
    }

    fn grammar(self) -> tree_sitter::Language {
        match self {
            Lang::Rust => tree_sitter_rust::LANGUAGE.into(),
            Lang::Python => tree_sitter_python::LANGUAGE.into(),
            Lang::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Lang::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Lang::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
            Lang::Go => tree_sitter_go::LANGUAGE.into(),
        }
    }
}

/// What the extractor does with a node of a given kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Other,
    /// A definition candidate; the extractor refines the kind (method vs function, …).
    Def(DefKind),
    /// An identifier leaf (references come from the lexer; kept for tools that walk trees).
    Ident,
    Comment,
    /// A node whose children may be definitions: the extractor descends into it.
    Container,
}

/// A grammar and its role table.
pub struct LangSpec {
    pub lang: Lang,
    pub grammar: tree_sitter::Language,
    roles: Vec<Role>,
}

impl LangSpec {
    /// The spec of `lang`, built on first use.
    pub fn get(lang: Lang) -> &'static LangSpec {
        static SPECS: OnceLock<Vec<LangSpec>> = OnceLock::new();
        let specs = SPECS.get_or_init(|| Lang::ALL.iter().map(|&l| LangSpec::new(l)).collect());
        let idx = Lang::ALL
            .iter()
            .position(|&l| l == lang)
            .expect("Lang::ALL lists every language");
        &specs[idx]
    }

    fn new(lang: Lang) -> LangSpec {
        let grammar = lang.grammar();
        let mut roles = vec![Role::Other; grammar.node_kind_count()];
        let table = role_table(lang);
        for id in 0..grammar.node_kind_count() as u16 {
            if !grammar.node_kind_is_named(id) {
                continue;
            }
            let Some(kind) = grammar.node_kind_for_id(id) else {
                continue;
            };
            if let Some((_, role)) = table.iter().find(|(k, _)| *k == kind) {
                roles[id as usize] = *role;
            }
        }
        LangSpec {
            lang,
            grammar,
            roles,
        }
    }

    #[inline]
    pub fn role(&self, kind_id: u16) -> Role {
        self.roles
            .get(kind_id as usize)
            .copied()
            .unwrap_or(Role::Other)
    }
}

fn role_table(lang: Lang) -> &'static [(&'static str, Role)] {
    use DefKind as K;
    use Role::{Comment, Container, Def, Ident};
    match lang {
        Lang::Rust => &[
            ("function_item", Def(K::Function)),
            ("function_signature_item", Def(K::Function)),
            ("struct_item", Def(K::Struct)),
            ("union_item", Def(K::Struct)),
            ("enum_item", Def(K::Enum)),
            ("enum_variant", Def(K::EnumMember)),
            ("trait_item", Def(K::Trait)),
            ("impl_item", Def(K::Impl)),
            ("mod_item", Def(K::Module)),
            ("const_item", Def(K::Constant)),
            ("static_item", Def(K::Constant)),
            ("type_item", Def(K::TypeAlias)),
            ("macro_definition", Def(K::Macro)),
            ("identifier", Ident),
            ("type_identifier", Ident),
            ("field_identifier", Ident),
            ("shorthand_field_identifier", Ident),
            ("line_comment", Comment),
            ("block_comment", Comment),
            ("source_file", Container),
            ("declaration_list", Container),
            ("enum_variant_list", Container),
            ("foreign_mod_item", Container),
        ],
        Lang::Python => &[
            ("function_definition", Def(K::Function)),
            ("class_definition", Def(K::Class)),
            ("type_alias_statement", Def(K::TypeAlias)),
            ("assignment", Def(K::Constant)),
            ("identifier", Ident),
            ("comment", Comment),
            ("module", Container),
            ("block", Container),
            ("decorated_definition", Container),
            ("expression_statement", Container),
            ("if_statement", Container),
            ("elif_clause", Container),
            ("else_clause", Container),
            ("try_statement", Container),
            ("except_clause", Container),
            ("finally_clause", Container),
            ("with_statement", Container),
        ],
        Lang::JavaScript | Lang::TypeScript | Lang::Tsx => &[
            ("function_declaration", Def(K::Function)),
            ("generator_function_declaration", Def(K::Function)),
            ("function_signature", Def(K::Function)),
            ("class_declaration", Def(K::Class)),
            ("abstract_class_declaration", Def(K::Class)),
            ("method_definition", Def(K::Method)),
            ("method_signature", Def(K::Method)),
            ("abstract_method_signature", Def(K::Method)),
            ("interface_declaration", Def(K::Interface)),
            ("type_alias_declaration", Def(K::TypeAlias)),
            ("enum_declaration", Def(K::Enum)),
            ("internal_module", Def(K::Module)),
            ("module", Def(K::Module)),
            ("variable_declarator", Def(K::Constant)),
            ("identifier", Ident),
            ("property_identifier", Ident),
            ("shorthand_property_identifier", Ident),
            ("shorthand_property_identifier_pattern", Ident),
            ("private_property_identifier", Ident),
            ("type_identifier", Ident),
            ("comment", Comment),
            ("program", Container),
            ("export_statement", Container),
            ("class_body", Container),
            ("lexical_declaration", Container),
            ("variable_declaration", Container),
            ("interface_body", Container),
            ("object_type", Container),
            ("statement_block", Container),
            ("ambient_declaration", Container),
            // `namespace X {}` is an expression statement in the TypeScript grammar.
            ("expression_statement", Container),
        ],
        Lang::Go => &[
            ("function_declaration", Def(K::Function)),
            ("method_declaration", Def(K::Method)),
            ("method_elem", Def(K::Method)),
            ("type_spec", Def(K::Struct)),
            ("type_alias", Def(K::TypeAlias)),
            ("const_spec", Def(K::Constant)),
            ("var_spec", Def(K::Variable)),
            ("identifier", Ident),
            ("type_identifier", Ident),
            ("field_identifier", Ident),
            ("package_identifier", Ident),
            ("comment", Comment),
            ("source_file", Container),
            ("type_declaration", Container),
            ("const_declaration", Container),
            ("var_declaration", Container),
            ("var_spec_list", Container),
            ("interface_type", Container),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_names_a_real_node_kind() {
        for lang in Lang::ALL {
            let grammar = lang.grammar();
            for (kind, _) in role_table(lang) {
                // JavaScript shares the TypeScript table; TS-only kinds are absent there.
                if lang == Lang::JavaScript && grammar.id_for_node_kind(kind, true) == 0 {
                    let ts = Lang::TypeScript.grammar();
                    assert_ne!(
                        ts.id_for_node_kind(kind, true),
                        0,
                        "{kind} is in no grammar"
                    );
                    continue;
                }
                assert_ne!(
                    grammar.id_for_node_kind(kind, true),
                    0,
                    "{kind} is not a node kind of {}",
                    lang.name()
                );
            }
        }
    }
}
