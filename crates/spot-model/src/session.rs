//! What the ONNX graph of a decoder takes and gives, read from the session's metadata: token,
//! mask and position inputs, the KV cache pairs (`past_key_values.N.key|value` →
//! `present.N.key|value`), the `use_cache_branch` flag of merged decoders, the
//! `num_logits_to_keep` input of graphs whose LM head runs only on the last positions
//! (`fixtures/models/keep_logits.py`), logits, and the KV cache's element type and shape. Never assumes a layer count. Runs nothing (see `generate.rs`).

use std::collections::BTreeMap;
use std::path::Path;

use ort::session::Session;
use ort::value::{TensorElementType, ValueType};

use super::dir::ModelConfig;
use super::ModelError;

/// Names of one layer's cache tensors.
#[derive(Debug, Clone)]
pub(super) struct LayerIo {
    pub past_key: String,
    pub past_value: String,
    pub present_key: String,
    pub present_value: String,
}

/// The graph's inputs and outputs, by role.
#[derive(Debug, Clone)]
pub(super) struct GraphIo {
    pub input_ids: String,
    /// Element type of `input_ids` (and of the mask and positions): int64, or int32.
    pub ids_dtype: TensorElementType,
    pub attention_mask: Option<String>,
    pub position_ids: Option<String>,
    pub use_cache_branch: Option<String>,
    /// `num_logits_to_keep` (int64 `[1]`): the LM head runs on that many last positions only.
    pub logits_to_keep: Option<String>,
    pub layers: Vec<LayerIo>,
    pub logits: String,
    pub logits_dtype: TensorElementType,
    pub kv_dtype: TensorElementType,
    pub kv_heads: usize,
    pub head_dim: usize,
    /// Size of the logits' last axis when the graph states it.
    pub vocab_size: Option<usize>,
}

impl GraphIo {
    pub fn from_session(
        session: &Session,
        config: &ModelConfig,
        path: &Path,
    ) -> Result<GraphIo, ModelError> {
        let unsupported = |message: String| ModelError::UnsupportedGraph {
            path: path.to_path_buf(),
            message,
        };
        let mut input_ids = None;
        let mut ids_dtype = TensorElementType::Int64;
        let mut attention_mask = None;
        let mut position_ids = None;
        let mut use_cache_branch = None;
        let mut logits_to_keep = None;
        let mut past: BTreeMap<usize, (Option<String>, Option<String>)> = BTreeMap::new();
        let mut kv_dtype = None;
        let mut kv_dims: Vec<i64> = Vec::new();
        let mut unknown = Vec::new();
        for input in session.inputs() {
            let name = input.name();
            match name {
                "input_ids" => {
                    input_ids = Some(name.to_owned());
                    if let Some(ty) = tensor_type(input.dtype()) {
                        ids_dtype = ty;
                    }
                }
                "attention_mask" => attention_mask = Some(name.to_owned()),
                "position_ids" => position_ids = Some(name.to_owned()),
                "use_cache_branch" => use_cache_branch = Some(name.to_owned()),
                "num_logits_to_keep" => logits_to_keep = Some(name.to_owned()),
                _ => match parse_cache_name(name, "past_key_values.") {
                    Some((layer, is_key)) => {
                        let slot = past.entry(layer).or_default();
                        if is_key {
                            slot.0 = Some(name.to_owned());
                        } else {
                            slot.1 = Some(name.to_owned());
                        }
                        if kv_dtype.is_none() {
                            kv_dtype = tensor_type(input.dtype());
                            if let ValueType::Tensor { shape, .. } = input.dtype() {
                                kv_dims = shape.iter().copied().collect();
                            }
                        }
                    }
                    None => unknown.push(name.to_owned()),
                },
            }
        }
        if !unknown.is_empty() {
            return Err(unsupported(format!(
                "unknown inputs {} (expected input_ids, attention_mask, position_ids, \
                 past_key_values.N.key|value, use_cache_branch, num_logits_to_keep)",
                unknown.join(", ")
            )));
        }
        let input_ids = input_ids.ok_or_else(|| unsupported("no `input_ids` input".into()))?;
        if !matches!(
            ids_dtype,
            TensorElementType::Int64 | TensorElementType::Int32
        ) {
            return Err(unsupported(format!(
                "`input_ids` has element type {ids_dtype:?}; expected int64 or int32"
            )));
        }
        if past.is_empty() {
            return Err(unsupported(
                "no `past_key_values.N.key|value` inputs: export it with past KV \
                 (optimum-cli export onnx --task text-generation-with-past)"
                    .into(),
            ));
        }

        let mut present: BTreeMap<usize, (Option<String>, Option<String>)> = BTreeMap::new();
        let mut logits = None;
        let mut logits_dtype = TensorElementType::Float32;
        let mut vocab_size = None;
        for output in session.outputs() {
            let name = output.name();
            if let Some((layer, is_key)) = parse_cache_name(name, "present.") {
                let slot = present.entry(layer).or_default();
                if is_key {
                    slot.0 = Some(name.to_owned());
                } else {
                    slot.1 = Some(name.to_owned());
                }
            } else if name == "logits" || (logits.is_none() && !name.starts_with("present")) {
                logits = Some(name.to_owned());
                if let Some(ty) = tensor_type(output.dtype()) {
                    logits_dtype = ty;
                }
                if let ValueType::Tensor { shape, .. } = output.dtype() {
                    vocab_size = shape
                        .iter()
                        .last()
                        .and_then(|&d| usize::try_from(d).ok())
                        .filter(|&d| d > 0);
                }
            }
        }
        let logits = logits.ok_or_else(|| unsupported("no `logits` output".into()))?;
        if !matches!(
            logits_dtype,
            TensorElementType::Float32 | TensorElementType::Float16
        ) {
            return Err(unsupported(format!(
                "logits have element type {logits_dtype:?}; expected float32 or float16"
            )));
        }

        let mut layers = Vec::with_capacity(past.len());
        for (expected, (layer, (key, value))) in past.into_iter().enumerate() {
            if layer != expected {
                return Err(unsupported(format!("KV cache layer {expected} is missing")));
            }
            let (Some(past_key), Some(past_value)) = (key, value) else {
                return Err(unsupported(format!(
                    "layer {layer} lacks past_key_values.{layer}.key or .value"
                )));
            };
            let Some((Some(present_key), Some(present_value))) = present.remove(&layer) else {
                return Err(unsupported(format!(
                    "layer {layer} lacks present.{layer}.key or .value outputs"
                )));
            };
            layers.push(LayerIo {
                past_key,
                past_value,
                present_key,
                present_value,
            });
        }
        if let Some(n) = config.num_layers {
            if n != layers.len() {
                tracing::warn!(
                    path = %path.display(),
                    "config says {n} layers, the graph has {}; using the graph",
                    layers.len()
                );
            }
        }

        let kv_dtype = kv_dtype.unwrap_or(TensorElementType::Float32);
        if !matches!(
            kv_dtype,
            TensorElementType::Float32 | TensorElementType::Float16
        ) {
            return Err(unsupported(format!(
                "KV cache has element type {kv_dtype:?}; expected float32 or float16"
            )));
        }
        // [batch, kv_heads, past_len, head_dim]: the fixed dims of the graph win over the config.
        let dim = |i: usize| {
            kv_dims
                .get(i)
                .and_then(|&d| usize::try_from(d).ok())
                .filter(|&d| d > 0)
        };
        if kv_dims.len() != 4 {
            return Err(unsupported(format!(
                "KV cache inputs have rank {}; expected [batch, heads, sequence, head_dim]",
                kv_dims.len()
            )));
        }
        let kv_heads = dim(1).or(config.kv_heads).ok_or_else(|| {
            unsupported("the number of KV heads is neither in the graph nor in config.json".into())
        })?;
        let head_dim = dim(3).or(config.head_dim).ok_or_else(|| {
            unsupported("the KV head size is neither in the graph nor in config.json".into())
        })?;
        Ok(GraphIo {
            input_ids,
            ids_dtype,
            attention_mask,
            position_ids,
            use_cache_branch,
            logits_to_keep,
            layers,
            logits,
            logits_dtype,
            kv_dtype,
            kv_heads,
            head_dim,
            vocab_size,
        })
    }
}

fn tensor_type(ty: &ValueType) -> Option<TensorElementType> {
    match ty {
        ValueType::Tensor { ty, .. } => Some(*ty),
        _ => None,
    }
}

/// `past_key_values.3.key` → `(3, true)`; `present.0.value` → `(0, false)`.
fn parse_cache_name(name: &str, prefix: &str) -> Option<(usize, bool)> {
    let rest = name.strip_prefix(prefix)?;
    let (layer, kind) = rest.split_once('.')?;
    let layer = layer.parse().ok()?;
    match kind {
        "key" => Some((layer, true)),
        "value" => Some((layer, false)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_cache_name;

    #[test]
    fn cache_names_parse_by_pattern() {
        assert_eq!(
            parse_cache_name("past_key_values.12.key", "past_key_values."),
            Some((12, true))
        );
        assert_eq!(
            parse_cache_name("present.0.value", "present."),
            Some((0, false))
        );
        assert_eq!(parse_cache_name("present.x.value", "present."), None);
        assert_eq!(parse_cache_name("present.1.other", "present."), None);
    }
}
