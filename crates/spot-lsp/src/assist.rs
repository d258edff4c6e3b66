//! spot's own features in the LSP shell (protocol: `ext.rs`, docs/lsp-extensions.md): the
//! `spot.*` commands, code actions (listed without the model, resolved with it) and the
//! WorkspaceEdits they send.
//!
//! The work is the analysis host's (`spot_assist::host`: localize, issue-to-patch, the code
//! actions); here are only conversions and bookkeeping: a job registered before anything waits
//! on the client, its progress, the cancel token a dropped request future trips.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde_json::Value;
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::request::ApplyWorkspaceEdit;
use tower_lsp_server::ls_types::*;

use super::ext::{self, rpc_error, Failure};
use super::host::CancelOnDrop;
use super::server::Backend;
use super::{from_proto, to_proto};
use spot_assist::actions::{first_line, ActionDiagnostic, ActionKind};
use spot_assist::edit::FileEdit;
use spot_assist::host::AnalysisHost;
use spot_assist::jobs::JobKind;
use spot_assist::localize::LocalizeOptions;
use spot_assist::patch::{Patch, PatchError, PatchOptions};
use spot_assist::prompt::Focus;
use spot_assist::rerank::RerankOptions;
use spot_base::cancel::CancelToken;
use spot_index::Index;

/// What the client can do, from `initialize`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientCaps {
    pub resolve_edit: bool,
    pub change_annotations: bool,
    pub document_changes: bool,
}

/// The assist half of the server state.
#[derive(Default)]
pub struct AssistState {
    /// The code-action resolve running now; a newer one cancels it.
    resolving: Mutex<Option<CancelToken>>,
    pub caps: RwLock<ClientCaps>,
    /// Open documents with a syntax-diagnostics task waiting for their text to settle.
    pub diagnostics_due: Mutex<HashSet<Uri>>,
}

impl ClientCaps {
    pub fn from_params(params: &InitializeParams) -> ClientCaps {
        let caps = &params.capabilities;
        let code_action = caps
            .text_document
            .as_ref()
            .and_then(|t| t.code_action.as_ref());
        let resolve_edit = code_action
            .and_then(|c| c.resolve_support.as_ref())
            .is_some_and(|r| r.properties.iter().any(|p| p == "edit"));
        let edit = caps
            .workspace
            .as_ref()
            .and_then(|w| w.workspace_edit.as_ref());
        ClientCaps {
            resolve_edit,
            change_annotations: edit
                .and_then(|e| e.change_annotation_support.as_ref())
                .is_some(),
            document_changes: edit.and_then(|e| e.document_changes).unwrap_or(false),
        }
    }
}

/// A failure of the work, for the user.
fn failed(message: impl Into<String>) -> tower_lsp_server::jsonrpc::Error {
    rpc_error(Failure::Failed(message.into()))
}

fn no_workspace() -> tower_lsp_server::jsonrpc::Error {
    failed("no workspace folder is open")
}

fn patch_failure(e: PatchError) -> tower_lsp_server::jsonrpc::Error {
    rpc_error(match e {
        PatchError::Cancelled => Failure::Cancelled,
        PatchError::NoModel { why } => Failure::Failed(format!(
            "{why}. Localization still works (spot.localize); run fixtures/models/setup.sh, or \
             set spot's modelDir setting to a model directory"
        )),
        e => Failure::Failed(e.to_string()),
    })
}

/// A result as the JSON the protocol sends.
fn to_value<T: serde::Serialize>(value: &T) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| to_proto::internal_error("serializing a result", e))
}

/// The change annotation of an edit: what it is and what the tests say of it.
struct Annotation {
    label: String,
    description: String,
    needs_confirmation: bool,
}

impl Annotation {
    /// `title` plus the verdict in words: a guess says so, nothing says "validated".
    fn of(title: &str, patch: &Patch, always_confirm: bool) -> Annotation {
        Annotation {
            label: format!("{title} ({})", patch.verdict_text()),
            description: format!("spot's patch: {}", patch.verdict_text()),
            needs_confirmation: always_confirm || !patch.verdict.is_fix(),
        }
    }
}

/// What a patch run is asked for.
struct PatchRequest {
    issue: String,
    focus: Option<Focus>,
    target_test: Option<String>,
    kind: JobKind,
    client_token: Option<ProgressToken>,
    /// A newer request trips it (code-action resolves).
    parent: Option<CancelToken>,
}

impl Backend {
    pub(super) fn clone(&self) -> Backend {
        Backend {
            client: self.client.clone(),
            state: Arc::clone(&self.state),
        }
    }

    /// `workspace/executeCommand`.
    pub(super) async fn execute(&self, params: ExecuteCommandParams) -> Result<Option<Value>> {
        let args = params.arguments;
        let value = match params.command.as_str() {
            ext::ISSUE_TO_PATCH => {
                let a: ext::IssueToPatchArgs = ext::args(
                    &args,
                    r#"[{"issue": "...", "apply"?: bool, "targetTest"?: "..."}]"#,
                )?;
                non_empty(&a.issue)?;
                let token = params.work_done_progress_params.work_done_token;
                to_value(&self.issue_to_patch_command(a, token).await?)?
            }
            ext::LOCALIZE => {
                let a: ext::LocalizeArgs = ext::args(&args, r#"[{"issue": "...", "limit"?: n}]"#)?;
                non_empty(&a.issue)?;
                to_value(&self.localize_command(a).await?)?
            }
            ext::STATUS => to_value(&self.status())?,
            ext::CANCEL => to_value(&ext::CancelResult {
                cancelled: self.cancel_jobs(),
            })?,
            ext::LEARN => {
                let a: ext::LearnArgs = ext::args(&args, r#"[] or [{"rollback": true}]"#)?;
                self.learn_command(a).await?
            }
            other => {
                return Err(rpc_error(Failure::InvalidParams(format!(
                    "unknown command `{other}` (spot's commands: {})",
                    ext::COMMANDS.join(", ")
                ))))
            }
        };
        Ok(Some(value))
    }

    async fn localize_command(&self, a: ext::LocalizeArgs) -> Result<ext::LocalizeResult> {
        let host = self.synced_host().await.ok_or_else(no_workspace)?;
        let limit = a.limit.unwrap_or(10);
        let opts = LocalizeOptions {
            max_files: limit,
            max_functions: limit,
            ..LocalizeOptions::default()
        };
        tokio::task::spawn_blocking(move || {
            let loc = host.localize(&a.issue, &opts);
            to_proto::localization(host.index().root(), &loc)
        })
        .await
        .map_err(|e| to_proto::internal_error("spot.localize", e))
    }

    /// The patch options the settings ask for.
    fn patch_options(&self, target_test: Option<String>) -> PatchOptions {
        let settings = self.state.settings.read();
        let rerank = settings.rerank as usize;
        PatchOptions {
            test_cmd: settings.test_command.clone(),
            target_test,
            rerank: (rerank > 1).then(|| RerankOptions {
                top: rerank,
                ..RerankOptions::default()
            }),
            ..PatchOptions::default()
        }
    }

    /// Runs issue-to-patch under a job with progress; the shared core of the command and the
    /// code actions.
    async fn run_patch(&self, req: PatchRequest) -> Result<(Patch, Arc<AnalysisHost>)> {
        let host = self.synced_host().await.ok_or_else(no_workspace)?;
        let title = format!("spot: {}", first_line(&req.issue, 60));
        let job = host.jobs().start(req.kind, req.parent.as_ref(), None);
        // The request's future dropped ($/cancelRequest) stops the work.
        let cancel = CancelOnDrop(job.cancel_token());
        let progress = self.begin_progress(&job, req.client_token, &title).await;
        if cancel.0.is_cancelled() {
            if let Some(p) = progress {
                p.finish_with_message("cancelled").await;
            }
            return Err(rpc_error(Failure::Cancelled));
        }
        let opts = self.patch_options(req.target_test);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let work_host = Arc::clone(&host);
        let (issue, focus) = (req.issue, req.focus);
        let work = tokio::task::spawn_blocking(move || {
            // The job ends when its work does.
            work_host.issue_to_patch(&issue, focus.as_ref(), opts, &job, &mut |stage| {
                let _ = tx.send(stage.clone());
            })
        });
        while let Some(stage) = rx.recv().await {
            Self::report(progress.as_ref(), &stage).await;
        }
        let result = work
            .await
            .map_err(|e| to_proto::internal_error("issue-to-patch", e))?;
        if let Some(p) = progress {
            let message = match &result {
                Ok(patch) => format!("{}: {}", patch.summary(), patch.verdict_text()),
                Err(e) => first_line(&e.to_string(), 120),
            };
            p.finish_with_message(message).await;
        }
        let patch = result.map_err(patch_failure)?;
        Ok((patch, host))
    }

    async fn issue_to_patch_command(
        &self,
        a: ext::IssueToPatchArgs,
        token: Option<ProgressToken>,
    ) -> Result<ext::PatchResult> {
        let title = format!("spot: {}", first_line(&a.issue, 80));
        let (patch, host) = self
            .run_patch(PatchRequest {
                issue: a.issue,
                focus: None,
                target_test: a.target_test,
                kind: JobKind::IssueToPatch,
                client_token: token,
                parent: None,
            })
            .await?;
        let annotation = Annotation::of(&title, &patch, true);
        let label = annotation.label.clone();
        let edit = self.workspace_edit(host.index(), &patch.edits, Some(&annotation));
        if !a.apply {
            return Ok(to_proto::patch_result(
                &patch,
                edit,
                ext::PatchStatus::Proposed,
                None,
            ));
        }
        let response = self
            .client
            .send_request::<ApplyWorkspaceEdit>(ApplyWorkspaceEditParams {
                label: Some(label),
                edit: edit.clone(),
            })
            .await
            .map_err(|e| failed(format!("the editor did not take the edit: {e}")))?;
        let (status, reason) = if response.applied {
            (ext::PatchStatus::Applied, None)
        } else {
            (ext::PatchStatus::Rejected, response.failure_reason)
        };
        Ok(to_proto::patch_result(&patch, edit, status, reason))
    }

    /// The protocol form of `edits`: versioned document changes when the client supports them
    /// (with a change annotation saying what the tests say of it, asking for confirmation of a
    /// guess, so editors show a preview), plain changes otherwise. Edits cover changed lines
    /// only.
    fn workspace_edit(
        &self,
        index: &Index,
        edits: &[FileEdit],
        annotation: Option<&Annotation>,
    ) -> WorkspaceEdit {
        let caps = *self.state.assist.caps.read();
        let annotation = annotation.filter(|_| caps.change_annotations);
        let annotation_id = annotation.map(|_| "spot".to_owned());
        let mut changes: HashMap<Uri, Vec<TextEdit>> = HashMap::new();
        let mut document_changes = Vec::new();
        for e in edits {
            let Some(uri) = to_proto::uri(index.root(), &e.path) else {
                continue;
            };
            let text_edits = to_proto::line_edits(&e.before, &e.after);
            if !caps.document_changes {
                changes.insert(uri, text_edits);
                continue;
            }
            if e.created {
                document_changes.push(DocumentChangeOperation::Op(ResourceOp::Create(
                    CreateFile {
                        uri: uri.clone(),
                        options: Some(CreateFileOptions {
                            overwrite: Some(false),
                            ignore_if_exists: Some(true),
                        }),
                        annotation_id: annotation_id.clone(),
                    },
                )));
            }
            let version = self.state.docs.version(&uri);
            document_changes.push(DocumentChangeOperation::Edit(TextDocumentEdit {
                text_document: OptionalVersionedTextDocumentIdentifier { uri, version },
                edits: text_edits
                    .into_iter()
                    .map(|te| match &annotation_id {
                        Some(id) => OneOf::Right(AnnotatedTextEdit {
                            text_edit: te,
                            annotation_id: id.clone(),
                        }),
                        None => OneOf::Left(te),
                    })
                    .collect(),
            }));
        }
        if !caps.document_changes {
            return WorkspaceEdit {
                changes: Some(changes),
                ..WorkspaceEdit::default()
            };
        }
        WorkspaceEdit {
            document_changes: Some(DocumentChanges::Operations(document_changes)),
            change_annotations: annotation.zip(annotation_id).map(|(a, id)| {
                HashMap::from([(
                    id,
                    ChangeAnnotation {
                        label: a.label.clone(),
                        needs_confirmation: Some(a.needs_confirmation),
                        description: Some(a.description.clone()),
                    },
                )])
            }),
            ..WorkspaceEdit::default()
        }
    }

    /// `textDocument/codeAction`: cheap, no model call. The function rewrite only when the
    /// user asked for actions (or for refactors), not for a lightbulb on every cursor move.
    pub(super) async fn code_actions(
        &self,
        params: CodeActionParams,
    ) -> Result<Option<CodeActionResponse>> {
        let Some(host) = self.synced_host().await else {
            return Ok(None);
        };
        let uri = params.text_document.uri;
        let Some(rel) = from_proto::path(&uri).and_then(|p| host.index().rel_path(&p)) else {
            return Ok(None);
        };
        let context = params.context;
        let invoked = context.trigger_kind == Some(CodeActionTriggerKind::INVOKED)
            || context.only.as_ref().is_some_and(|only| {
                only.iter()
                    .any(|k| k.as_str() == "refactor" || k.as_str().starts_with("refactor."))
            });
        let tests = self.state.settings.read().test_command.is_some();
        let diagnostics: Vec<ActionDiagnostic> = context
            .diagnostics
            .iter()
            .map(|d| ActionDiagnostic {
                message: d.message.clone(),
                line: d.range.start.line,
                source: d.source.clone(),
            })
            .collect();
        let resolve = self.state.assist.caps.read().resolve_edit;
        let actions: Vec<CodeActionOrCommand> = host
            .code_actions(&rel, params.range.start.line, &diagnostics, invoked, tests)
            .into_iter()
            .map(|spec| {
                let data = ext::ActionData {
                    uri: uri.clone(),
                    line: spec.line,
                    issue: spec.issue,
                    target_test: spec.target_test,
                    verdict: None,
                    verdict_text: None,
                };
                let diagnostics = spec
                    .diagnostic
                    .and_then(|i| context.diagnostics.get(i))
                    .map(|d| vec![d.clone()]);
                let kind = match spec.kind {
                    ActionKind::QuickFix => CodeActionKind::QUICKFIX,
                    ActionKind::RefactorRewrite => CodeActionKind::REFACTOR_REWRITE,
                };
                action(spec.title, kind, diagnostics, data, resolve)
            })
            .collect();
        Ok((!actions.is_empty()).then_some(actions))
    }

    /// `codeAction/resolve`: runs issue-to-patch focused on the action's line (for `Fix failing
    /// test`: aimed at its test, without a focus); a newer resolve cancels this one.
    pub(super) async fn resolve_action(&self, mut action: CodeAction) -> Result<CodeAction> {
        let Some(data) = action.data.clone() else {
            return Ok(action);
        };
        let data: ext::ActionData = serde_json::from_value(data).map_err(|e| {
            rpc_error(Failure::InvalidParams(format!(
                "not a spot code action: {e}"
            )))
        })?;
        let host = self.synced_host().await.ok_or_else(no_workspace)?;
        let rel = from_proto::path(&data.uri)
            .and_then(|p| host.index().rel_path(&p))
            .ok_or_else(|| failed("the document is not in the workspace"))?;
        let mine = CancelToken::new();
        if let Some(older) = self.state.assist.resolving.lock().replace(mine.clone()) {
            older.cancel();
        }
        // A failing test's fix belongs in the code it tests, not in the test: no focus (which
        // would keep the edit to the test's file).
        let focus = data.target_test.is_none().then_some(Focus {
            path: rel,
            line: data.line,
        });
        let mut shown = data.clone();
        let (patch, host) = self
            .run_patch(PatchRequest {
                issue: data.issue,
                focus,
                target_test: data.target_test,
                kind: JobKind::CodeAction,
                client_token: None,
                parent: Some(mine),
            })
            .await?;
        let annotation = Annotation::of(&format!("spot: {}", action.title), &patch, false);
        action.edit = Some(self.workspace_edit(host.index(), &patch.edits, Some(&annotation)));
        shown.verdict = Some(to_proto::verdict(patch.verdict));
        shown.verdict_text = Some(patch.verdict_text());
        action.data = serde_json::to_value(&shown).ok();
        Ok(action)
    }
}

fn non_empty(issue: &str) -> Result<()> {
    if issue.trim().is_empty() {
        return Err(rpc_error(Failure::InvalidParams(
            "the issue text is empty".to_owned(),
        )));
    }
    Ok(())
}

/// A listed action: resolved later (`data`), or, for a client that cannot resolve edits, the
/// `spot.issueToPatch` command with the same issue.
fn action(
    title: String,
    kind: CodeActionKind,
    diagnostics: Option<Vec<Diagnostic>>,
    data: ext::ActionData,
    resolve: bool,
) -> CodeActionOrCommand {
    let command = (!resolve).then(|| Command {
        title: title.clone(),
        command: ext::ISSUE_TO_PATCH.to_owned(),
        arguments: serde_json::to_value(ext::IssueToPatchArgs {
            issue: data.issue.clone(),
            apply: true,
            target_test: data.target_test.clone(),
        })
        .ok()
        .map(|a| vec![a]),
    });
    CodeActionOrCommand::CodeAction(CodeAction {
        title,
        kind: Some(kind),
        diagnostics,
        command,
        data: resolve.then(|| serde_json::to_value(&data).ok()).flatten(),
        ..CodeAction::default()
    })
}
