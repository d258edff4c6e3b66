//! The model directory contract: which files exist, what the JSON configs say (context length, KV
//! shape hints, end-of-sequence ids) and the tokenizer. Reads files only; no ONNX session (see
//! `session.rs`) and no template rendering (see `chat.rs`).
//!
//! Two layouts load: the HF/optimum one (config.json, generation_config.json, tokenizer.json,
//! tokenizer_config.json, chat template, model.onnx [+ model.onnx_data]) and the one written by
//! onnxruntime-genai's model builder (genai_config.json, with or without config.json beside it).

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::ModelError;

/// The ONNX graph file of the HF/optimum layout.
pub const MODEL_FILE: &str = "model.onnx";
const CONFIG: &str = "config.json";
const GENERATION_CONFIG: &str = "generation_config.json";
const TOKENIZER: &str = "tokenizer.json";
const TOKENIZER_CONFIG: &str = "tokenizer_config.json";
const CHAT_TEMPLATE_JINJA: &str = "chat_template.jinja";
const GENAI_CONFIG: &str = "genai_config.json";

/// Context length assumed when no config states one.
const FALLBACK_CONTEXT: usize = 2048;

/// The files of a model directory that exist and are needed.
#[derive(Debug, Clone)]
pub(super) struct ModelFiles {
    pub dir: PathBuf,
    pub config: Option<PathBuf>,
    pub generation_config: Option<PathBuf>,
    pub genai_config: Option<PathBuf>,
    pub tokenizer: PathBuf,
    pub tokenizer_config: Option<PathBuf>,
    pub chat_template_jinja: Option<PathBuf>,
    pub model: PathBuf,
}

impl ModelFiles {
    /// Checks that the required files exist.
    pub fn open(dir: &Path) -> Result<ModelFiles, ModelError> {
        if !dir.is_dir() {
            return Err(ModelError::ModelDirMissing {
                dir: dir.to_path_buf(),
                hint: "not a directory".to_owned(),
            });
        }
        let dir = dir.canonicalize().map_err(|source| ModelError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let optional = |name: &str| Some(dir.join(name)).filter(|p| p.is_file());
        let required = |name: &'static str| {
            optional(name).ok_or_else(|| ModelError::MissingFile {
                dir: dir.clone(),
                file: name,
            })
        };
        let genai_config = optional(GENAI_CONFIG);
        let config = optional(CONFIG);
        if config.is_none() && genai_config.is_none() {
            return Err(ModelError::MissingFile {
                dir: dir.clone(),
                file: CONFIG,
            });
        }
        let model = match &genai_config {
            Some(path) => {
                let genai = read_json(path)?;
                let name = genai
                    .pointer("/model/decoder/filename")
                    .and_then(Value::as_str)
                    .unwrap_or(MODEL_FILE);
                let model = dir.join(name);
                if !model.is_file() {
                    return Err(ModelError::InvalidFile {
                        path: path.clone(),
                        message: format!("its decoder file {name} does not exist"),
                    });
                }
                model
            }
            None => required(MODEL_FILE)?,
        };
        Ok(ModelFiles {
            config,
            generation_config: optional(GENERATION_CONFIG),
            tokenizer: required(TOKENIZER)?,
            tokenizer_config: optional(TOKENIZER_CONFIG),
            chat_template_jinja: optional(CHAT_TEMPLATE_JINJA),
            genai_config,
            model,
            dir,
        })
    }
}

/// What the JSON configs say about the model.
#[derive(Debug, Clone)]
pub(super) struct ModelConfig {
    pub context_length: usize,
    pub vocab_size: usize,
    pub num_layers: Option<usize>,
    pub kv_heads: Option<usize>,
    pub head_dim: Option<usize>,
    /// End-of-sequence ids: generation_config.json's, then config.json's, then genai_config's.
    pub eos_token_ids: Vec<u32>,
    /// genai_config.json's `search.past_present_share_buffer`: the graph (GroupQueryAttention)
    /// can write each step's keys and values in place into one buffer bound as both its past
    /// input and its present output, instead of copying the whole past into a new present.
    pub share_kv_buffer: bool,
}

impl ModelConfig {
    pub fn read(files: &ModelFiles) -> Result<ModelConfig, ModelError> {
        let config = files.config.as_deref().map(read_json).transpose()?;
        let generation = files
            .generation_config
            .as_deref()
            .map(read_json)
            .transpose()?;
        let genai = files.genai_config.as_deref().map(read_json).transpose()?;
        let decoder = genai.as_ref().and_then(|g| g.pointer("/model/decoder"));

        let usize_at = |value: Option<&Value>, key: &str| -> Option<usize> {
            value
                .and_then(|v| v.get(key))
                .and_then(Value::as_u64)
                .and_then(|n| usize::try_from(n).ok())
        };
        let config_ref = config.as_ref();
        let genai_model = genai.as_ref().and_then(|g| g.get("model"));

        let context_length = usize_at(config_ref, "max_position_embeddings")
            .or_else(|| usize_at(config_ref, "n_positions"))
            .or_else(|| usize_at(genai_model, "context_length"))
            .unwrap_or_else(|| {
                tracing::warn!(
                    dir = %files.dir.display(),
                    "no context length in the configs; assuming {FALLBACK_CONTEXT}"
                );
                FALLBACK_CONTEXT
            });
        let vocab_size = usize_at(config_ref, "vocab_size")
            .or_else(|| usize_at(genai_model, "vocab_size"))
            .unwrap_or(0);
        let num_layers = usize_at(config_ref, "num_hidden_layers")
            .or_else(|| usize_at(decoder, "num_hidden_layers"));
        let heads = usize_at(config_ref, "num_attention_heads")
            .or_else(|| usize_at(decoder, "num_attention_heads"));
        let kv_heads = usize_at(config_ref, "num_key_value_heads")
            .or_else(|| usize_at(decoder, "num_key_value_heads"))
            .or(heads);
        let head_dim = usize_at(config_ref, "head_dim")
            .or_else(|| usize_at(decoder, "head_size"))
            .or_else(|| {
                let hidden = usize_at(config_ref, "hidden_size")
                    .or_else(|| usize_at(decoder, "hidden_size"))?;
                hidden.checked_div(heads?)
            });

        let mut eos_token_ids = Vec::new();
        for (value, path) in [
            (generation.as_ref(), "/eos_token_id"),
            (config_ref, "/eos_token_id"),
            (genai.as_ref(), "/model/eos_token_id"),
        ] {
            if let Some(ids) = value.and_then(|v| v.pointer(path)) {
                for id in token_ids(ids) {
                    if !eos_token_ids.contains(&id) {
                        eos_token_ids.push(id);
                    }
                }
            }
        }
        Ok(ModelConfig {
            context_length,
            vocab_size,
            num_layers,
            kv_heads,
            head_dim,
            eos_token_ids,
            share_kv_buffer: genai
                .as_ref()
                .and_then(|g| g.pointer("/search/past_present_share_buffer"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }
}

/// `2` or `[2, 3]` as token ids; anything else is ignored.
fn token_ids(value: &Value) -> Vec<u32> {
    match value {
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .into_iter()
            .collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_u64)
            .filter_map(|n| u32::try_from(n).ok())
            .collect(),
        _ => Vec::new(),
    }
}

pub(super) fn read_json(path: &Path) -> Result<Value, ModelError> {
    let text = std::fs::read_to_string(path).map_err(|source| ModelError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| ModelError::InvalidFile {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

pub(super) fn load_tokenizer(files: &ModelFiles) -> Result<tokenizers::Tokenizer, ModelError> {
    tokenizers::Tokenizer::from_file(&files.tokenizer).map_err(|e| ModelError::Tokenizer {
        path: files.tokenizer.clone(),
        message: e.to_string(),
    })
}

/// One line of `spot doctor`'s model check.
#[derive(Debug, Clone, Serialize)]
pub struct FileCheck {
    pub name: String,
    pub required: bool,
    pub status: FileStatus,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", content = "detail", rename_all = "snake_case")]
pub enum FileStatus {
    Ok(String),
    Missing,
    Invalid(String),
}

/// File-by-file state of a model directory, without starting ONNX Runtime.
#[derive(Debug, Clone, Serialize)]
pub struct DirReport {
    pub dir: PathBuf,
    pub exists: bool,
    pub files: Vec<FileCheck>,
}

impl DirReport {
    /// Every required file is present and valid.
    pub fn is_ok(&self) -> bool {
        self.exists
            && self
                .files
                .iter()
                .all(|f| !f.required || matches!(f.status, FileStatus::Ok(_)))
    }
}

/// Checks a model directory file by file (for `spot doctor`).
pub fn inspect_dir(dir: &Path) -> DirReport {
    let mut files = Vec::new();
    if !dir.is_dir() {
        return DirReport {
            dir: dir.to_path_buf(),
            exists: false,
            files,
        };
    }
    let genai = dir.join(GENAI_CONFIG).is_file();
    let json_check = |name: &str, required: bool, detail: &dyn Fn(&Value) -> String| {
        let path = dir.join(name);
        let status = if !path.is_file() {
            FileStatus::Missing
        } else {
            match read_json(&path) {
                Ok(value) => FileStatus::Ok(detail(&value)),
                Err(e) => FileStatus::Invalid(e.to_string()),
            }
        };
        FileCheck {
            name: name.to_owned(),
            required,
            status,
        }
    };
    files.push(json_check(CONFIG, !genai, &|v| {
        let field = |k: &str| {
            v.get(k)
                .map(|x| x.to_string())
                .unwrap_or_else(|| "?".into())
        };
        format!(
            "{} layers, context {}, vocab {}",
            field("num_hidden_layers"),
            field("max_position_embeddings"),
            field("vocab_size")
        )
    }));
    if genai {
        files.push(json_check(GENAI_CONFIG, true, &|_| {
            "onnxruntime-genai layout".into()
        }));
    }
    files.push(json_check(GENERATION_CONFIG, false, &|v| {
        format!(
            "eos {}",
            v.get("eos_token_id")
                .map(|x| x.to_string())
                .unwrap_or_else(|| "none".into())
        )
    }));
    let tokenizer_path = dir.join(TOKENIZER);
    files.push(FileCheck {
        name: TOKENIZER.to_owned(),
        required: true,
        status: if !tokenizer_path.is_file() {
            FileStatus::Missing
        } else {
            match tokenizers::Tokenizer::from_file(&tokenizer_path) {
                Ok(t) => FileStatus::Ok(format!("{} tokens", t.get_vocab_size(true))),
                Err(e) => FileStatus::Invalid(e.to_string()),
            }
        },
    });
    let has_jinja = dir.join(CHAT_TEMPLATE_JINJA).is_file();
    files.push(json_check(TOKENIZER_CONFIG, false, &|v| {
        if v.get("chat_template").is_some() {
            "has chat_template".into()
        } else {
            "no chat_template".into()
        }
    }));
    files.push(FileCheck {
        name: CHAT_TEMPLATE_JINJA.to_owned(),
        required: false,
        status: if has_jinja {
            FileStatus::Ok("chat template".into())
        } else {
            FileStatus::Missing
        },
    });
    let model_name = if genai {
        read_json(&dir.join(GENAI_CONFIG))
            .ok()
            .and_then(|g| {
                g.pointer("/model/decoder/filename")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| MODEL_FILE.to_owned())
    } else {
        MODEL_FILE.to_owned()
    };
    for (name, required) in [
        (model_name.clone(), true),
        (format!("{model_name}_data"), false),
        (format!("{model_name}.data"), false),
    ] {
        let path = dir.join(&name);
        let status = match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() && meta.len() > 0 => {
                FileStatus::Ok(format!("{:.1} MB", meta.len() as f64 / 1e6))
            }
            Ok(_) => FileStatus::Invalid("empty or not a file".into()),
            Err(_) => FileStatus::Missing,
        };
        if required || !matches!(status, FileStatus::Missing) {
            files.push(FileCheck {
                name,
                required,
                status,
            });
        }
    }
    DirReport {
        dir: dir.to_path_buf(),
        exists: true,
        files,
    }
}
