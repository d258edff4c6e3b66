--- spot.nvim: Neovim client for spot, the repo-expert language server.
---
--- Protocol: docs/lsp-extensions.md (commands spot.issueToPatch, spot.localize, spot.status,
--- spot.cancel, spot.learn; the `spot/status` notification; code actions resolved lazily).
--- Help: `:help spot`.

local M = {}

local NAME = 'spot'

--- Error codes of docs/lsp-extensions.md.
M.REQUEST_FAILED = -32803
M.REQUEST_CANCELLED = -32800
M.INVALID_PARAMS = -32602

--- @class spot.Config
local defaults = {
  --- Command that starts the server; default `{ binary, 'lsp' }`.
  cmd = nil, --- @type string[]?
  --- The spot executable (name on $PATH or a path); used when `cmd` is not set and by :checkhealth.
  binary = 'spot',
  --- Extra environment for the server and for `:checkhealth spot` (e.g. ORT_DYLIB_PATH, SPOT_DATA_DIR).
  cmd_env = nil, --- @type table<string,string>?
  filetypes = { 'python', 'rust', 'javascript', 'javascriptreact', 'typescript', 'typescriptreact', 'go' },
  --- The first marker found upward wins, so a repository's top level is preferred.
  root_markers = {
    '.git',
    '.hg',
    '.jj',
    'Cargo.toml',
    'pyproject.toml',
    'setup.py',
    'package.json',
    'go.mod',
  },
  --- Server settings (docs/lsp-extensions.md, "Settings"); nil means the server's default.
  model_dir = nil, --- @type string?   modelDir
  provider = nil, --- @type 'auto'|'cuda'|'directml'|'cpu'|nil
  ort_path = nil, --- @type string?   ortPath
  max_file_size = nil, --- @type integer? maxFileSize (bytes)
  test_command = nil, --- @type string? testCommand: a patch must also pass it (e.g. 'python3 -m pytest -q')
  rerank = nil, --- @type integer? rerank: the model reranks this many of the best-localized files (0: off)
  log_level = nil, --- @type 'error'|'warn'|'info'|'debug'|'trace'|nil
  learning = nil, --- @type {trigger?: 'manual'|'commits'|'idle', every_n_commits?: integer, idle_minutes?: integer}?
  --- Raw settings merged over the ones above (camelCase keys, sent as they are).
  settings = nil, --- @type table?
  --- :SpotFixIssue applies the patch without showing it and asking first (like :SpotFixIssue!).
  apply_without_asking = false,
  --- Write the buffers a patch changed (`:update`) after applying it.
  write_after_apply = false,
  --- Show spot's work-done progress in the command line (it is always in vim.lsp.status()).
  progress = true,
  --- Start the server for `filetypes` automatically.
  autostart = true,
  --- Neovim >= 0.11: register with vim.lsp.config/vim.lsp.enable. false uses the vim.lsp.start
  --- fallback of older versions (a FileType autocommand).
  use_lsp_enable = true,
  on_attach = nil, --- @type fun(client: vim.lsp.Client, bufnr: integer)?
  capabilities = nil, --- @type table?
}

M.config = vim.deepcopy(defaults)
M.did_setup = false
--- Why the server cannot start (the binary is missing), set by setup(); nil when it was found.
M.binary_error = nil --- @type string?

--- Latest `spot/status` per client id, and the client that sent the last one.
local statuses = {} --- @type table<integer, table>
local last_status_client = nil --- @type integer?

local function notify(msg, level)
  vim.notify('spot: ' .. msg, level or vim.log.levels.INFO)
end

local has_011 = vim.fn.has('nvim-0.11') == 1

local function get_clients(filter)
  if vim.lsp.get_clients then
    return vim.lsp.get_clients(filter)
  end
  return vim.lsp.get_active_clients(filter) ---@diagnostic disable-line: deprecated
end

local function client_request(client, method, params, handler, bufnr)
  if has_011 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

--- The settings object sent to the server (nil when every value is the server's default, so an
--- empty Lua table is never sent as a JSON array).
--- @return table?
function M.server_settings(config)
  config = config or M.config
  local s = {}
  local function put(key, value)
    if value ~= nil then
      s[key] = value
    end
  end
  put('modelDir', config.model_dir and vim.fn.expand(config.model_dir) or nil)
  put('provider', config.provider)
  put('ortPath', config.ort_path and vim.fn.expand(config.ort_path) or nil)
  put('maxFileSize', config.max_file_size)
  put('testCommand', config.test_command)
  put('rerank', config.rerank)
  put('logLevel', config.log_level)
  if type(config.learning) == 'table' then
    local l = {}
    l.trigger = config.learning.trigger
    l.everyNCommits = config.learning.every_n_commits or config.learning.everyNCommits
    l.idleMinutes = config.learning.idle_minutes or config.learning.idleMinutes
    if next(l) then
      s.learning = l
    end
  end
  for k, v in pairs(config.settings or {}) do
    s[k] = v
  end
  if next(s) == nil then
    return nil
  end
  return s
end

--- The command that starts the server.
function M.cmd(config)
  config = config or M.config
  return config.cmd or { config.binary or 'spot', 'lsp' }
end

--- Client capabilities: Neovim's, plus versioned `documentChanges` (which
--- vim.lsp.util.apply_workspace_edit handles), so spot's edits carry the document versions they
--- were computed on and an edit for a buffer changed meanwhile is refused instead of misapplied.
function M.capabilities(extra)
  local caps = vim.lsp.protocol.make_client_capabilities()
  caps.workspace = caps.workspace or {}
  caps.workspace.workspaceEdit = caps.workspace.workspaceEdit or {}
  caps.workspace.workspaceEdit.documentChanges = true
  return vim.tbl_deep_extend('force', caps, extra or {})
end

local function on_status(_, result, ctx)
  if type(result) == 'table' and ctx and ctx.client_id then
    statuses[ctx.client_id] = result
    last_status_client = ctx.client_id
    vim.api.nvim_exec_autocmds('User', {
      pattern = 'SpotStatus',
      modeline = false,
      data = { client_id = ctx.client_id, status = result },
    })
    pcall(vim.cmd.redrawstatus)
  end
  return vim.NIL
end

--- The `vim.lsp.Config` (or `vim.lsp.start` config, without root_dir) for spot.
function M.lsp_config(config)
  config = config or M.config
  local settings = M.server_settings(config)
  return {
    name = NAME,
    cmd = M.cmd(config),
    cmd_env = config.cmd_env,
    filetypes = config.filetypes,
    root_markers = config.root_markers,
    init_options = settings,
    settings = settings and { spot = settings } or nil,
    handlers = { ['spot/status'] = on_status },
    on_attach = config.on_attach,
    capabilities = M.capabilities(config.capabilities),
    on_exit = function(_, _, client_id)
      statuses[client_id] = nil
    end,
  }
end

--- The spot client of `bufnr` (default: current buffer), else any running spot client.
--- @return vim.lsp.Client?
function M.client(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local clients = get_clients({ name = NAME, bufnr = bufnr })
  if #clients == 0 then
    clients = get_clients({ name = NAME })
    -- Prefer the one whose root holds the current directory.
    local cwd = vim.fn.getcwd()
    for _, c in ipairs(clients) do
      if c.root_dir and vim.startswith(cwd .. '/', c.root_dir .. '/') then
        return c
      end
    end
  end
  return clients[1]
end

--- Checks that the server's executable exists; returns nil or a message naming what is
--- missing and how to fix it.
function M.check_binary(config)
  config = config or M.config
  local cmd = M.cmd(config)
  local exe = type(cmd) == 'table' and cmd[1] or nil -- a `cmd` function is not checked
  if type(exe) ~= 'string' or vim.fn.executable(vim.fn.expand(exe)) == 1 then
    return nil
  end
  if config.cmd then
    return string.format('binary not found: `%s` (from the `cmd` option) is not an executable', exe)
  end
  if exe == 'spot' then
    return 'binary not found: `spot` is not on $PATH. Build it (cargo build --release --bin spot) and '
      .. "put target/release on $PATH, or require('spot').setup({ binary = '/path/to/spot' })"
  end
  return string.format(
    "binary not found: `%s` (the `binary` option) is not an executable; fix the path in require('spot').setup({ binary = ... })",
    exe
  )
end

local function need_client()
  if M.binary_error and not M.client() then
    notify(M.binary_error .. ' (see :checkhealth spot)', vim.log.levels.ERROR)
    return nil
  end
  local client = M.client()
  if not client then
    notify(
      'the server is not running: open a '
        .. table.concat(M.config.filetypes, '/')
        .. ' file inside a repository (see :checkhealth spot)',
      vim.log.levels.ERROR
    )
  end
  return client
end

--- The latest `spot/status` (docs/lsp-extensions.md, spot.status) of the current buffer's spot
--- client, else of the client that reported last; nil before the first one.
--- @return table?
function M.status(bufnr)
  local client = M.client(bufnr)
  if client and statuses[client.id] then
    return statuses[client.id]
  end
  return last_status_client and statuses[last_status_client] or nil
end

--- The latest `spot/status` of one client.
function M.client_status(client_id)
  return statuses[client_id]
end

--- A short status for statuslines: `spot: indexing`, `spot: generating`, `spot: ready`, ...
--- Empty when spot is not running.
function M.statusline()
  local s = M.status()
  if not s then
    return M.binary_error and 'spot: binary not found' or ''
  end
  local jobs = s.jobs or {}
  if #jobs > 0 then
    return 'spot: ' .. (jobs[1].stage or jobs[1].kind or 'working')
  end
  if s.index and s.index.state == 'building' then
    return 'spot: indexing'
  end
  if s.model and s.model.state == 'loading' then
    return 'spot: loading model'
  end
  if s.model and (s.model.state == 'unavailable' or (s.model.error and s.model.error ~= vim.NIL)) then
    return 'spot: no model: run setup'
  end
  return 'spot: ' .. ((s.index and s.index.state) or 'ready')
end

--- Requests in flight, by "client_id:request_id". Neovim's RPC layer drops a RequestCancelled
--- (-32800) response without calling the handler (it takes it for the ack of a client-side
--- $/cancelRequest), but it still fires `LspRequest` with type "complete" just before it would
--- call the handler; a request completed without its handler having run was answered -32800.
local in_flight = {} --- @type table<string, {answered: boolean, finish: fun(err: table?, result: any)}>

local function on_lsp_request(ev)
  local d = ev.data
  if not (d and d.request and d.request.type == 'complete') then
    return
  end
  local key = tostring(d.client_id) .. ':' .. tostring(d.request_id)
  local rec = in_flight[key]
  if not rec then
    return
  end
  in_flight[key] = nil
  vim.schedule(function()
    if not rec.answered then
      rec.answered = true
      rec.finish({ code = M.REQUEST_CANCELLED, message = 'cancelled' }, nil)
    end
  end)
end

--- Runs `workspace/executeCommand` `command` with `arguments`; `cb(err, result, client)` on the
--- main loop, also when the server answers -32800 (cancelled). Returns the request id or nil.
function M.execute(command, arguments, cb, client)
  client = client or need_client()
  if not client then
    return nil
  end
  local rec = { answered = false }
  rec.finish = function(err, result)
    cb(err, result, client)
  end
  local ok, id = client_request(
    client,
    'workspace/executeCommand',
    { command = command, arguments = arguments or {} },
    function(err, result)
      if rec.answered then
        return
      end
      rec.answered = true
      vim.schedule(function()
        rec.finish(err, result)
      end)
    end,
    vim.api.nvim_get_current_buf()
  )
  if not ok then
    rec.answered = true
    cb({ code = -32603, message = 'the server is not running' }, nil, client)
    return nil
  end
  if id and not rec.answered then
    in_flight[tostring(client.id) .. ':' .. tostring(id)] = rec
  end
  return id
end

--- A user-facing message for a command error.
function M.error_message(err)
  if err == nil then
    return nil
  end
  if err.code == M.REQUEST_CANCELLED then
    return 'cancelled'
  end
  return err.message or vim.inspect(err)
end

local function report_error(what, err)
  local level = err.code == M.REQUEST_CANCELLED and vim.log.levels.WARN or vim.log.levels.ERROR
  notify(what .. ': ' .. M.error_message(err), level)
end

---------------------------------------------------------------------------------------------
-- Issue text: command args, @file, a range / visual selection, or a scratch buffer.

local ISSUE_BUF = 'spot://issue'

--- Opens a scratch buffer for the issue text; `:w` sends it to `cb`, `:q!` drops it.
function M.issue_buffer(cb, initial)
  local old = vim.fn.bufnr(ISSUE_BUF)
  if old ~= -1 then
    pcall(vim.api.nvim_buf_delete, old, { force = true })
  end
  vim.cmd('botright new')
  local buf = vim.api.nvim_get_current_buf()
  vim.api.nvim_buf_set_name(buf, ISSUE_BUF)
  vim.bo[buf].buftype = 'acwrite'
  vim.bo[buf].bufhidden = 'wipe'
  vim.bo[buf].swapfile = false
  vim.bo[buf].filetype = 'markdown'
  if initial and initial ~= '' then
    vim.api.nvim_buf_set_lines(buf, 0, -1, false, vim.split(initial, '\n'))
  end
  vim.bo[buf].modified = false
  local ns = vim.api.nvim_create_namespace('spot_issue_hint')
  vim.api.nvim_buf_set_extmark(buf, ns, 0, 0, {
    virt_text = { { 'describe the issue; :w sends it to spot, :q! drops it', 'Comment' } },
    virt_text_pos = 'eol',
  })
  vim.api.nvim_create_autocmd('BufWriteCmd', {
    buffer = buf,
    callback = function()
      local text = table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\n')
      if vim.trim(text) == '' then
        notify('the issue is empty', vim.log.levels.WARN)
        return
      end
      vim.bo[buf].modified = false
      vim.schedule(function()
        if vim.api.nvim_buf_is_valid(buf) then
          pcall(vim.api.nvim_buf_delete, buf, { force = true })
        end
        cb(text)
      end)
    end,
  })
  vim.cmd('startinsert')
  return buf
end

local function read_file(path)
  local f = io.open(vim.fn.expand(path), 'r')
  if not f then
    return nil
  end
  local text = f:read('*a')
  f:close()
  return text
end

--- The issue of a user command: `@FILE`, the args, the range (or visual selection), else a
--- scratch buffer. Calls `cb(text)` (maybe later).
function M.issue_from_command(opts, cb)
  local args = vim.trim(opts.args or '')
  if args ~= '' then
    if args:sub(1, 1) == '@' then
      local text = read_file(args:sub(2))
      if not text then
        notify('cannot read ' .. args:sub(2), vim.log.levels.ERROR)
        return
      end
      return cb(text)
    end
    return cb(args)
  end
  if opts.range and opts.range > 0 then
    local lines
    local vs, ve = vim.fn.getpos("'<"), vim.fn.getpos("'>")
    local mode = vim.fn.visualmode()
    if
      vim.fn.getregion
      and mode ~= ''
      and mode ~= 'V'
      and vs[2] == opts.line1
      and ve[2] == opts.line2
    then
      lines = vim.fn.getregion(vs, ve, { type = mode })
    else
      lines = vim.api.nvim_buf_get_lines(0, opts.line1 - 1, opts.line2, false)
    end
    local text = table.concat(lines, '\n')
    if vim.trim(text) == '' then
      notify('the selection is empty', vim.log.levels.WARN)
      return
    end
    return cb(text)
  end
  M.issue_buffer(cb)
end

---------------------------------------------------------------------------------------------
-- Workspace edits.

--- Applies a WorkspaceEdit from spot. Confirmation annotations are dropped (the user already
--- confirmed, or asked not to be asked); a buffer changed since the patch was made is refused.
--- Returns the list of changed buffers, or nil and an error message.
function M.apply_edit(edit, client)
  edit = vim.deepcopy(edit)
  for _, annotation in pairs(edit.changeAnnotations or {}) do
    annotation.needsConfirmation = false
  end
  local bufs = {}
  for _, change in ipairs(edit.documentChanges or {}) do
    local doc = change.textDocument
    if doc then
      local bufnr = vim.uri_to_bufnr(doc.uri)
      local version = doc.version
      if
        type(version) == 'number'
        and version > 0
        and vim.api.nvim_buf_is_loaded(bufnr)
        and vim.lsp.util.buf_versions[bufnr] > version
      then
        return nil,
          vim.uri_to_fname(doc.uri)
            .. ' changed after spot made the patch; nothing was applied (run it again)'
      end
      bufs[#bufs + 1] = bufnr
    end
  end
  for uri in pairs(edit.changes or {}) do
    bufs[#bufs + 1] = vim.uri_to_bufnr(uri)
  end
  local ok, err = pcall(vim.lsp.util.apply_workspace_edit, edit, client.offset_encoding or 'utf-16')
  if not ok then
    return nil, tostring(err)
  end
  if M.config.write_after_apply then
    for _, b in ipairs(bufs) do
      if vim.api.nvim_buf_is_loaded(b) and vim.bo[b].modified then
        vim.api.nvim_buf_call(b, function()
          vim.cmd('silent update')
        end)
      end
    end
  end
  return bufs
end

---------------------------------------------------------------------------------------------
-- Verdicts: what spot claims about a patch (docs/lsp-extensions.md, spot.issueToPatch). Only a
-- patch that made failing tests pass is presented as a fix; anything else says it is a guess.

--- `fixes_failing_tests` / `fixesFailingTests` → `fixesFailingTests`; unknown → `unverified`.
function M.verdict_word(v)
  local k = tostring(v or ''):gsub('_', ''):lower()
  if k == 'fixesfailingtests' then
    return 'fixesFailingTests'
  elseif k == 'passestests' then
    return 'passesTests'
  end
  return 'unverified'
end

function M.is_fix(result)
  return type(result) == 'table' and M.verdict_word(result.verdict) == 'fixesFailingTests'
end

--- `fix — fixes the 1 failing test`, or the server's sentence for a guess (always saying "guess").
function M.verdict_headline(result)
  result = result or {}
  local text = type(result.verdictText) == 'string' and vim.trim(result.verdictText) or ''
  if M.is_fix(result) then
    return 'fix — ' .. (text ~= '' and text or 'fixes the failing tests')
  end
  if text == '' then
    return M.verdict_word(result.verdict) == 'passesTests' and 'a guess: no test shows this bug'
      or 'a guess: not tested'
  end
  if text:lower():find('guess', 1, true) then
    return text
  end
  return 'a guess: ' .. text
end

--- The message after a fix: `fix — fixes the 1 failing test · applied: 1 file changed: a.py`
--- (notify adds the `spot: ` prefix).
function M.patch_message(result, what)
  return string.format('%s · %s: %s', M.verdict_headline(result), what, result.summary or 'patch')
end

---------------------------------------------------------------------------------------------
-- :SpotFixIssue

local PATCH_BUF = 'spot://patch'

--- Shows `diff` in a preview split; returns its window and buffer.
function M.show_diff(diff, title)
  local old = vim.fn.bufnr(PATCH_BUF)
  if old ~= -1 then
    pcall(vim.api.nvim_buf_delete, old, { force = true })
  end
  local lines = vim.split(diff, '\n', { plain = true })
  if lines[#lines] == '' then
    table.remove(lines)
  end
  vim.cmd('botright ' .. math.max(5, math.min(#lines + 1, math.floor(vim.o.lines / 2))) .. 'new')
  local win, buf = vim.api.nvim_get_current_win(), vim.api.nvim_get_current_buf()
  vim.api.nvim_buf_set_name(buf, PATCH_BUF)
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].bufhidden = 'wipe'
  vim.bo[buf].swapfile = false
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.bo[buf].filetype = 'diff'
  if title then
    vim.wo[win].winbar = (title:gsub('%%', '%%%%'))
  end
  return win, buf
end

--- Asks spot for a patch that fixes `issue` (spot.issueToPatch with apply=false), then shows the
--- diff and asks before applying it, or applies it at once when `opts.ask == false`.
--- `opts.on_done(data)` gets `{status = 'applied'|'discarded'|'failed'|'cancelled', result?,
--- error?, buffers?, request_id}`; the `User SpotFixIssueDone` autocmd carries the same `data`.
--- Returns the request id.
function M.fix_issue(issue, opts)
  opts = opts or {}
  local ask = opts.ask
  if ask == nil then
    ask = not M.config.apply_without_asking
  end
  local client = need_client()
  if not client then
    return nil
  end
  local request_id = nil
  local function done(data)
    data.request_id = request_id
    vim.api.nvim_exec_autocmds('User', { pattern = 'SpotFixIssueDone', modeline = false, data = data })
    if opts.on_done then
      opts.on_done(data)
    end
  end
  local function apply(result)
    local bufs, err = M.apply_edit(result.edit, client)
    if not bufs then
      notify('the patch was not applied: ' .. err, vim.log.levels.ERROR)
      return done({ status = 'failed', result = result, error = { message = err } })
    end
    local unsaved = M.config.write_after_apply and '' or ' (unsaved; :wa writes)'
    -- A guess is a warning: read it before trusting it.
    notify(M.patch_message(result, 'applied') .. unsaved, M.is_fix(result) and vim.log.levels.INFO or vim.log.levels.WARN)
    done({ status = 'applied', result = result, buffers = bufs })
  end
  notify('asking the model for a patch… (:SpotCancel stops it)')
  request_id = M.execute('spot.issueToPatch', { { issue = issue, apply = false } }, function(err, result)
    if err then
      report_error('no patch', err)
      return done({ status = err.code == M.REQUEST_CANCELLED and 'cancelled' or 'failed', error = err })
    end
    if not ask then
      return apply(result)
    end
    local headline = M.verdict_headline(result)
    local win = M.show_diff(result.diff or '', 'spot: ' .. headline .. ' · ' .. (result.summary or 'patch'))
    vim.cmd('redraw')
    vim.ui.input(
      { prompt = 'spot: ' .. headline .. ' — apply this patch (' .. (result.summary or '') .. ')? [y/N] ' },
      function(answer)
        vim.schedule(function()
          if vim.api.nvim_win_is_valid(win) then
            pcall(vim.api.nvim_win_close, win, true)
          end
          if answer and answer:lower():match('^%s*y') then
            apply(result)
          else
            notify(M.patch_message(result, 'discarded'))
            done({ status = 'discarded', result = result })
          end
        end)
      end
    )
  end, client)
  return request_id
end

---------------------------------------------------------------------------------------------
-- :SpotLocalize

--- The first non-empty line of an issue, without Markdown heading marks.
function M.issue_title(issue)
  for line in vim.gsplit(issue, '\n', { plain = true }) do
    line = vim.trim((line:gsub('^%s*#+', '')))
    if line ~= '' then
      return line
    end
  end
  return ''
end

--- Runs spot.localize and puts the functions, then the files, into the quickfix list.
function M.localize(issue, opts)
  opts = opts or {}
  return M.execute('spot.localize', { { issue = issue, limit = opts.limit } }, function(err, result)
    if err then
      report_error('localize', err)
      if opts.on_done then
        opts.on_done(nil, err)
      end
      return
    end
    local items = {}
    for _, f in ipairs(result.functions or {}) do
      items[#items + 1] = {
        filename = f.uri and vim.uri_to_fname(f.uri) or f.path,
        lnum = (f.range and f.range.start.line or 0) + 1,
        end_lnum = f.range and f.range['end'].line or nil,
        text = string.format('function %s (score %.3f)', f.name, f.score or 0),
      }
    end
    for _, f in ipairs(result.files or {}) do
      items[#items + 1] = {
        filename = f.uri and vim.uri_to_fname(f.uri) or f.path,
        lnum = 1,
        text = string.format('file (score %.3f) %s', f.score or 0, f.reason or ''),
      }
    end
    vim.fn.setqflist({}, ' ', {
      title = 'spot localize: ' .. M.issue_title(issue),
      items = items,
    })
    if #items == 0 then
      notify('nothing found for this issue', vim.log.levels.WARN)
    elseif opts.open ~= false then
      vim.cmd('botright copen')
    end
    if opts.on_done then
      opts.on_done(result)
    end
  end)
end

---------------------------------------------------------------------------------------------
-- :SpotStatus, :SpotCancel, :SpotLearn

--- spot.status as lines of text.
function M.format_status(s)
  local lines = {}
  local function add(fmt, ...)
    lines[#lines + 1] = string.format(fmt, ...)
  end
  add('spot %s', s.version or '?')
  local ix = s.index or {}
  if ix.state == 'none' or ix.state == nil then
    add('  index: none (no workspace folder)')
  else
    add(
      '  index: %s, %s files, %s symbols (%s)',
      ix.state,
      tostring(ix.files or '?'),
      tostring(ix.symbols or '?'),
      ix.root or '?'
    )
  end
  local m = s.model or {}
  local model = string.format('  model: %s, %s', m.state or '?', m.name or '?')
  if m.provider and m.provider ~= vim.NIL then
    model = model .. string.format(' on %s', m.provider)
  end
  add('%s (%s)', model, m.dir or '?')
  if m.error and m.error ~= vim.NIL then
    add('    error: %s', m.error)
  end
  local jobs = s.jobs or {}
  if #jobs == 0 then
    add('  jobs: none')
  else
    for _, j in ipairs(jobs) do
      add('  job %s: %s, %s', tostring(j.id), j.kind or '?', j.stage or '?')
    end
  end
  local l = s.learn or {}
  local learn = '  learning: ' .. (l.state or '?')
  if l.message and l.message ~= vim.NIL and l.message ~= '' then
    learn = learn .. ' (' .. l.message .. ')'
  end
  add('%s', learn)
  return lines
end

function M.show_status(opts)
  opts = opts or {}
  return M.execute('spot.status', {}, function(err, result, client)
    if err then
      report_error('status', err)
      return
    end
    statuses[client.id] = result
    local lines = M.format_status(result)
    local head = table.remove(lines, 1)
    vim.api.nvim_echo({ { head .. '\n', 'Title' }, { table.concat(lines, '\n') } }, true, {})
    if opts.on_done then
      opts.on_done(result)
    end
  end)
end

function M.cancel(opts)
  opts = opts or {}
  return M.execute('spot.cancel', {}, function(err, result)
    if err then
      report_error('cancel', err)
      return
    end
    local n = result and result.cancelled or 0
    notify(n == 0 and 'nothing to cancel' or ('cancelled ' .. n .. ' job(s)'))
    if opts.on_done then
      opts.on_done(result)
    end
  end)
end

function M.learn(opts)
  opts = opts or {}
  local args = opts.rollback and { { rollback = true } } or {}
  return M.execute('spot.learn', args, function(err, result)
    if err then
      report_error('learn', err)
    elseif result and result.started then
      notify('learning started (job ' .. tostring(result.job) .. '); progress in :SpotStatus')
    else
      notify('learn: ' .. vim.inspect(result))
    end
    if opts.on_done then
      opts.on_done(result, err)
    end
  end)
end

---------------------------------------------------------------------------------------------
-- Progress in the command line.

local progress_group = nil

local function setup_progress()
  progress_group = vim.api.nvim_create_augroup('spot_progress', { clear = true })
  if not M.config.progress then
    return
  end
  vim.api.nvim_create_autocmd('LspProgress', {
    group = progress_group,
    callback = function(ev)
      local data = ev.data or {}
      local client = data.client_id and vim.lsp.get_client_by_id(data.client_id)
      -- Without a UI (headless) there is no command line to show it in.
      if not client or client.name ~= NAME or #vim.api.nvim_list_uis() == 0 then
        return
      end
      local value = (data.params or {}).value
      if type(value) ~= 'table' then
        return
      end
      local text = value.title or 'spot'
      if value.message and value.message ~= '' then
        text = text .. ' — ' .. value.message
      end
      if value.percentage then
        text = string.format('%s (%d%%)', text, value.percentage)
      end
      if value.kind == 'end' then
        text = text .. ' ✓'
      end
      vim.api.nvim_echo({ { text, 'Comment' } }, false, {})
    end,
  })
end

---------------------------------------------------------------------------------------------
-- User commands.

local function create_commands()
  local cmd = vim.api.nvim_create_user_command
  cmd('SpotFixIssue', function(opts)
    M.issue_from_command(opts, function(text)
      M.fix_issue(text, { ask = (not opts.bang) and not M.config.apply_without_asking })
    end)
  end, {
    nargs = '*',
    range = true,
    bang = true,
    desc = 'spot: ask the model for a patch fixing an issue (args, @FILE, selection or a scratch buffer); ! applies without asking',
  })
  cmd('SpotLocalize', function(opts)
    M.issue_from_command(opts, function(text)
      M.localize(text)
    end)
  end, {
    nargs = '*',
    range = true,
    desc = 'spot: files and functions an issue is about, in the quickfix list',
  })
  cmd('SpotStatus', function()
    M.show_status()
  end, { desc = 'spot: index, model, jobs' })
  cmd('SpotCancel', function()
    M.cancel()
  end, { desc = "spot: cancel spot's running jobs" })
  cmd('SpotLearn', function(opts)
    M.learn({ rollback = opts.args == 'rollback' })
  end, {
    nargs = '?',
    complete = function()
      return { 'rollback' }
    end,
    desc = 'spot: start background learning (`rollback` restores the previous model)',
  })
end

---------------------------------------------------------------------------------------------
-- Setup.

local fallback_group = nil

local function start_fallback(config)
  fallback_group = vim.api.nvim_create_augroup('spot_lsp_start', { clear = true })
  local function start(bufnr)
    if vim.bo[bufnr].buftype ~= '' then
      return
    end
    local fname = vim.api.nvim_buf_get_name(bufnr)
    local root
    if vim.fs.root then
      root = vim.fs.root(bufnr, config.root_markers)
    else
      local found = vim.fs.find(config.root_markers, { upward = true, path = vim.fs.dirname(fname) })[1]
      root = found and vim.fs.dirname(found) or nil
    end
    local c = M.lsp_config(config)
    c.root_dir = root or vim.fs.dirname(fname)
    c.filetypes, c.root_markers = nil, nil
    vim.lsp.start(c, { bufnr = bufnr })
  end
  vim.api.nvim_create_autocmd('FileType', {
    group = fallback_group,
    pattern = config.filetypes,
    callback = function(ev)
      start(ev.buf)
    end,
  })
  -- Buffers already open when setup() runs.
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(b) and vim.tbl_contains(config.filetypes, vim.bo[b].filetype) then
      start(b)
    end
  end
end

--- Configures and enables the spot language server, and creates the :Spot* commands.
--- @param opts spot.Config?
function M.setup(opts)
  M.config = vim.tbl_deep_extend('force', vim.deepcopy(defaults), opts or {})
  if opts and opts.filetypes then
    M.config.filetypes = opts.filetypes
  end
  if opts and opts.root_markers then
    M.config.root_markers = opts.root_markers
  end
  create_commands()
  setup_progress()
  vim.api.nvim_create_autocmd('LspRequest', {
    group = vim.api.nvim_create_augroup('spot_requests', { clear = true }),
    callback = on_lsp_request,
  })
  local config = M.config
  local was = M.binary_error
  M.binary_error = M.check_binary(config)
  if M.binary_error and M.binary_error ~= was then
    -- Once per problem, instead of Neovim's spawn error on every buffer.
    notify(M.binary_error, vim.log.levels.ERROR)
  end
  local start = config.autostart and not M.binary_error
  local modern = vim.lsp.config and vim.lsp.enable and has_011 and config.use_lsp_enable
  if fallback_group then
    vim.api.nvim_del_augroup_by_id(fallback_group)
    fallback_group = nil
  end
  if modern then
    local c = M.lsp_config(config)
    c.name = nil
    vim.lsp.config(NAME, c)
    vim.lsp.enable(NAME, start and true or false)
  else
    if vim.lsp.enable and has_011 then
      vim.lsp.enable(NAME, false)
    end
    if start then
      start_fallback(config)
    end
  end
  -- Running clients pick up new settings.
  for _, client in ipairs(get_clients({ name = NAME })) do
    local settings = M.server_settings(config)
    client.settings = settings and { spot = settings } or {}
    if settings then
      local params = { settings = client.settings }
      if has_011 then
        client:notify('workspace/didChangeConfiguration', params)
      else
        client.notify('workspace/didChangeConfiguration', params)
      end
    end
  end
  M.did_setup = true
end

return M
