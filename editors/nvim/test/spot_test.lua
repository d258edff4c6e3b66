-- Headless tests of spot.nvim against the real server (run by test/run.sh, which sets the
-- environment). Each case prints PASS/FAIL/SKIP with its time; the process exits non-zero when
-- any case failed. Cases are numbered as in the issue and run cheapest first: the cases without
-- a model, then the cancel (it also loads the model), the fixes, the code action, and last the
-- vim.lsp.start fallback (it restarts the server).

local spot = require('spot')
local uv = vim.uv or vim.loop

local ART = assert(os.getenv('SPOT_NVIM_ARTIFACTS'))
local REPO = assert(os.getenv('SPOT_NVIM_FIXTURE'))
local ISSUE_FILE = assert(os.getenv('SPOT_NVIM_ISSUE'))
-- The file the issue's fix changes, and (replay mode, the expert fixture model) its text after
-- the real fix.
local TARGET = os.getenv('SPOT_NVIM_TARGET') or 'inventory/pricing.py'
local EXPECTED = os.getenv('SPOT_NVIM_EXPECTED')
local REPLAY = EXPECTED ~= nil and EXPECTED ~= ''
local MODEL = os.getenv('SPOT_NVIM_MODEL') or 'none'
local HAS_MODEL = MODEL ~= 'none'
local ONLY = os.getenv('SPOT_NVIM_CASES') or ''
-- The longest a single model request may take before its case fails.
local MODEL_TIMEOUT = tonumber(os.getenv('SPOT_NVIM_MODEL_TIMEOUT') or '') or 420000

local started = uv.hrtime()
local log_file = assert(io.open(ART .. '/test.log', 'w'))

local function elapsed()
  return (uv.hrtime() - started) / 1e9
end

local function log(fmt, ...)
  local line = string.format('[%7.1fs] ' .. fmt, elapsed(), ...)
  log_file:write(line, '\n')
  log_file:flush()
end

-- run.sh keeps what headless Neovim prints (its messages) as an artifact and gives the report
-- its own file descriptor.
local report_fd = tonumber(os.getenv('SPOT_NVIM_REPORT_FD') or '')
local function say(line)
  if report_fd then
    uv.fs_write(report_fd, line .. '\n', -1)
  else
    io.stderr:write(line, '\n')
  end
  log('%s', line)
end

local function write_artifact(name, text)
  local f = assert(io.open(ART .. '/' .. name, 'w'))
  f:write(text)
  f:close()
end

local function read(path)
  local f = assert(io.open(path, 'r'), 'cannot read ' .. path)
  local text = f:read('*a')
  f:close()
  return text
end

--------------------------------------------------------------------------------------------
-- What the user sees: notifications, progress, statuses.

local notes = {} --- @type {msg: string, level: integer}[]
vim.notify = function(msg, level)
  level = level or vim.log.levels.INFO
  notes[#notes + 1] = { msg = msg, level = level }
  log('notify[%d] %s', level, msg)
end

local progress = {} --- @type {token: any, kind: string, title: string?, message: string?}[]
vim.api.nvim_create_autocmd('LspProgress', {
  callback = function(ev)
    local p = ev.data and ev.data.params or {}
    local v = type(p.value) == 'table' and p.value or {}
    progress[#progress + 1] =
      { token = p.token, kind = v.kind, title = v.title, message = v.message, client_id = ev.data.client_id }
    log('progress %s %s %s %s', tostring(p.token), tostring(v.kind), tostring(v.title), tostring(v.message))
  end,
})

local status_log = {} --- @type table[]
vim.api.nvim_create_autocmd('User', {
  pattern = 'SpotStatus',
  callback = function(ev)
    status_log[#status_log + 1] = ev.data.status
    local s = ev.data.status
    local jobs = {}
    for _, j in ipairs(s.jobs or {}) do
      jobs[#jobs + 1] = j.kind .. ':' .. tostring(j.stage)
    end
    log(
      'spot/status index=%s model=%s jobs=[%s]',
      tostring(s.index and s.index.state),
      tostring(s.model and s.model.state),
      table.concat(jobs, ',')
    )
  end,
})

local fix_done = {} --- @type table[]
vim.api.nvim_create_autocmd('User', {
  pattern = 'SpotFixIssueDone',
  callback = function(ev)
    fix_done[#fix_done + 1] = ev.data
    log('SpotFixIssueDone status=%s', tostring(ev.data.status))
  end,
})

--------------------------------------------------------------------------------------------
-- Helpers.

local function wait(ms, cond, what)
  if not vim.wait(ms, cond, 50) then
    error(string.format('timed out after %d s waiting for %s', ms / 1000, what), 2)
  end
end

local function check(cond, fmt, ...)
  if not cond then
    error(string.format(fmt, ...), 2)
  end
end

local function buf_text(buf)
  local text = table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\n')
  if vim.bo[buf].eol then
    text = text .. '\n'
  end
  return text
end

local function messages()
  return vim.api.nvim_exec2('messages', { output = true }).output
end

local function find_line(buf, pattern)
  for i, line in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, false)) do
    local col = line:find(pattern)
    if col then
      return i, col, line
    end
  end
end

--- The buffer of an absolute path or of a name like spot://patch, or -1.
local function find_buf(name)
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_get_name(b) == name then
      return b
    end
  end
  return -1
end

local function edit(rel)
  vim.cmd('edit ' .. vim.fn.fnameescape(REPO .. '/' .. rel))
  return vim.api.nvim_get_current_buf()
end

local function git_show(rel)
  local r = vim.system({ 'git', '-C', REPO, 'show', 'HEAD:' .. rel }, { text = true }):wait()
  check(r.code == 0, 'git show HEAD:%s failed: %s', rel, r.stderr)
  return r.stdout
end

--- The original files with `diff` applied by patch(1): {rel = text}.
local function apply_diff_to_originals(files, diff, tag)
  local dir = vim.fn.tempname()
  for _, rel in ipairs(files) do
    vim.fn.mkdir(vim.fs.dirname(dir .. '/' .. rel), 'p')
    local f = assert(io.open(dir .. '/' .. rel, 'w'))
    f:write(git_show(rel))
    f:close()
  end
  write_artifact(tag .. '.diff', diff)
  local r = vim.system({ 'patch', '-p1', '--batch', '-d', dir, '-i', ART .. '/' .. tag .. '.diff' }, { text = true })
    :wait()
  check(r.code == 0, 'patch -p1 could not apply the returned diff: %s%s', r.stdout, r.stderr)
  local out = {}
  for _, rel in ipairs(files) do
    out[rel] = read(dir .. '/' .. rel)
  end
  vim.fn.delete(dir, 'rf')
  return out
end

--- Asserts that every file of a patch result is open and its buffer equals original + diff.
local function assert_buffers_match_diff(result, tag)
  check(type(result.diff) == 'string' and result.diff ~= '', 'the result has no diff')
  check(type(result.files) == 'table' and #result.files > 0, 'the result names no files')
  local expected = apply_diff_to_originals(result.files, result.diff, tag)
  for _, rel in ipairs(result.files) do
    local buf = find_buf(REPO .. '/' .. rel)
    check(buf ~= -1, '%s was not loaded into a buffer', rel)
    local actual = buf_text(buf)
    write_artifact(tag .. '.' .. rel:gsub('/', '_') .. '.after', actual)
    check(actual ~= git_show(rel), 'the buffer of %s did not change', rel)
    check(actual == expected[rel], 'the buffer of %s differs from the original with the diff applied', rel)
  end
end

local function revert(files)
  for _, rel in ipairs(files) do
    local buf = find_buf(REPO .. '/' .. rel)
    if buf ~= -1 then
      vim.api.nvim_buf_call(buf, function()
        vim.cmd('edit!')
      end)
      check(buf_text(buf) == git_show(rel), 'reverting %s failed', rel)
    end
  end
end

local function spot_progress_since(i)
  local out = {}
  for k = i + 1, #progress do
    local p = progress[k]
    if type(p.token) == 'string' and p.token:match('^spot/job/') then
      out[#out + 1] = p
    end
  end
  return out
end

local function save_screen(name)
  local lines = {}
  for _, win in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
    local buf = vim.api.nvim_win_get_buf(win)
    lines[#lines + 1] = string.format('=== window %d: %s', win, vim.api.nvim_buf_get_name(buf))
    vim.list_extend(lines, vim.api.nvim_buf_get_lines(buf, 0, -1, false))
  end
  write_artifact('screen-' .. name .. '.txt', table.concat(lines, '\n') .. '\n')
end

--------------------------------------------------------------------------------------------
-- Cases.

local results = {}

local function case(name, needs_model, fn)
  if ONLY ~= '' and not vim.tbl_contains(vim.split(ONLY, ','), name) then
    return
  end
  if needs_model and not HAS_MODEL then
    results[#results + 1] = { name = name, outcome = 'SKIP', why = 'SPOT_TEST_MODEL=none' }
    say(string.format('SKIP %-28s (needs a model; SPOT_TEST_MODEL=none)', name))
    return
  end
  log('--- %s', name)
  local t0 = uv.hrtime()
  local ok, err = xpcall(fn, debug.traceback)
  local secs = (uv.hrtime() - t0) / 1e9
  results[#results + 1] = { name = name, outcome = ok and 'PASS' or 'FAIL', secs = secs, why = err }
  say(string.format('%s %-28s %6.1fs', ok and 'PASS' or 'FAIL', name, secs))
  if not ok then
    say('     ' .. tostring(err):gsub('\n', '\n     '))
  end
  -- Back to one window on a source file for the next case.
  pcall(vim.cmd, 'silent! only')
end

local issue_text = read(ISSUE_FILE)

case('1-start-index-navigate', false, function()
  local buf = edit('inventory/pricing.py')
  check(vim.bo[buf].filetype == 'python', 'filetype is %s', vim.bo[buf].filetype)
  wait(20000, function()
    return spot.client(buf) ~= nil
  end, 'the spot client to attach to a python buffer')
  local client = assert(spot.client(buf))
  check(client.root_dir == REPO, 'root_dir %s, expected %s', tostring(client.root_dir), REPO)
  wait(60000, function()
    local s = spot.status(buf)
    return s and s.index and s.index.state == 'ready'
  end, 'spot/status index.state == "ready"')
  local s = spot.status(buf)
  check(s.index.files >= 10, 'index has %s files', tostring(s.index.files))
  check(s.index.root == REPO, 'index root %s', tostring(s.index.root))
  -- The first build reported progress through the built-in LSP progress.
  wait(10000, function()
    for _, p in ipairs(progress) do
      if p.client_id == client.id and p.kind == 'end' then
        return true
      end
    end
  end, 'the indexing progress to end (LspProgress)')
  check(spot.statusline():match('^spot: '), 'statusline: %s', spot.statusline())

  -- Workspace symbols.
  local res = client:request_sync('workspace/symbol', { query = 'bulkdisc' }, 10000, buf)
  check(res and res.result, 'workspace/symbol failed: %s', vim.inspect(res))
  local found = false
  for _, sym in ipairs(res.result) do
    if sym.name == 'bulk_discount_percent' and sym.location.uri:match('inventory/pricing%.py$') then
      found = true
    end
  end
  check(found, 'workspace/symbol "bulkdisc" lacks bulk_discount_percent: %s', vim.inspect(res.result))

  -- Go to definition across files, the way a user does it.
  local cli = edit('inventory/cli.py')
  local lnum, col = find_line(cli, 'order_total%(item')
  check(lnum, 'no call of order_total in cli.py')
  vim.api.nvim_win_set_cursor(0, { lnum, col - 1 })
  wait(10000, function()
    return spot.client(cli) ~= nil
  end, 'the client to attach to cli.py')
  vim.lsp.buf.definition()
  wait(10000, function()
    return vim.api.nvim_buf_get_name(0) == REPO .. '/inventory/pricing.py'
  end, 'go-to-definition to jump to pricing.py')
  local def_line = find_line(0, '^def order_total')
  check(vim.api.nvim_win_get_cursor(0)[1] == def_line, 'cursor at %d, def order_total at %d', vim.api.nvim_win_get_cursor(0)[1], def_line)
end)

case('6-localize-learn', false, function()
  edit('inventory/pricing.py')
  local n = #notes
  vim.cmd('SpotLocalize @' .. ISSUE_FILE)
  wait(20000, function()
    return #vim.fn.getqflist() > 0
  end, 'the quickfix list of :SpotLocalize')
  local qf = vim.fn.getqflist({ title = 1, items = 1 })
  local head = vim.trim((issue_text:match('[^\n]*[%w][^\n]*') or ''):gsub('^#+%s*', '')):sub(1, 20)
  check(vim.startswith(qf.title, 'spot localize: ') and qf.title:find(head, 1, true), 'quickfix title %s', qf.title)
  local first = qf.items[1]
  check(vim.api.nvim_buf_get_name(first.bufnr):sub(-#TARGET) == TARGET, 'first location %s', vim.api.nvim_buf_get_name(first.bufnr))
  local fns = {}
  for i = 1, math.min(3, #qf.items) do
    fns[#fns + 1] = qf.items[i].text
  end
  local want_fn = REPLAY and 'Store.remove_item' or 'bulk_discount_percent'
  check(table.concat(fns, '\n'):find('function ' .. want_fn, 1, true), '%s not in the top 3: %s', want_fn, vim.inspect(fns))
  vim.cmd('cclose')
  -- Code actions are listed without the model: inside a function, a lazy "Fix `fn` with spot".
  local buf = edit('inventory/pricing.py')
  local lnum = find_line(buf, 'percent = tier_percent')
  local res = spot.client(buf):request_sync('textDocument/codeAction', {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    range = { start = { line = lnum - 1, character = 8 }, ['end'] = { line = lnum - 1, character = 8 } },
    -- Invoked (1), as vim.lsp.buf.code_action() sends it: spot offers "Fix `fn`" only when asked.
    context = { diagnostics = {}, triggerKind = 1 },
  }, 10000, buf)
  local action = res and res.result and res.result[1]
  check(action and action.title == 'Fix `bulk_discount_percent` with spot', 'code actions: %s', vim.inspect(res))
  check(action.kind == 'refactor.rewrite' and action.data and not action.edit, 'not a lazy action: %s', vim.inspect(action))
  -- spot.learn starts a background job (shown), which :SpotCancel stops; the active model stays.
  vim.cmd('SpotLearn')
  wait(10000, function()
    for k = n + 1, #notes do
      if notes[k].msg:match('^spot: learn') then
        return true
      end
    end
  end, 'the answer to :SpotLearn to be shown')
  wait(10000, function()
    local s = spot.status(buf)
    return s and s.learn and s.learn.state == 'running'
  end, 'spot/status to show learning running')
  if not HAS_MODEL then
    -- No model: nothing to learn from; the job fails at once and says why.
    wait(60000, function()
      local s = spot.status(buf)
      return s and #(s.jobs or {}) == 0 and s.learn and s.learn.state ~= 'running'
    end, 'the learning job to end')
    local s = spot.status(buf)
    check(s.learn.state == 'failed' and (s.learn.message or '') ~= '', 'learn status without a model: %s', vim.inspect(s.learn))
    return
  end
  vim.cmd('SpotCancel')
  wait(60000, function()
    local s = spot.status(buf)
    return s and #(s.jobs or {}) == 0 and s.learn and s.learn.state ~= 'running'
  end, 'the cancelled learning job to end')
  local s = spot.status(buf)
  check(s.learn.state == 'idle' and (s.learn.message or ''):match('cancelled'), 'learn status after cancel: %s', vim.inspect(s.learn))
end)

case('7-help', false, function()
  -- :helptags on a copy (the checkout stays clean), then :help finds spot's tags.
  local dir = vim.fn.tempname()
  vim.fn.mkdir(dir .. '/doc', 'p')
  local plugin = assert(os.getenv('SPOT_NVIM_PLUGIN'))
  vim.fn.writefile(vim.fn.readfile(plugin .. '/doc/spot.txt'), dir .. '/doc/spot.txt')
  vim.cmd('helptags ' .. vim.fn.fnameescape(dir .. '/doc'))
  local tags = read(dir .. '/doc/tags')
  for _, tag in ipairs({ 'spot.txt', ':SpotFixIssue', ':SpotFixIssue!', ':SpotLocalize', ':SpotStatus', ':SpotCancel', ':SpotLearn', 'spot-health', 'spot.setup()', 'spot.statusline()' }) do
    check(tags:find('\n' .. vim.pesc(tag) .. '\t') or tags:find('^' .. vim.pesc(tag) .. '\t'), 'tag %s missing from the generated tags', tag)
  end
  vim.opt.runtimepath:prepend(dir)
  vim.cmd('help :SpotCancel')
  check(vim.api.nvim_buf_get_name(0):match('spot%.txt$'), ':help opened %s', vim.api.nvim_buf_get_name(0))
  check(vim.api.nvim_get_current_line():match('%*:SpotCancel%*'), ':help landed on %s', vim.api.nvim_get_current_line())
  vim.cmd('helpclose')
  vim.opt.runtimepath:remove(dir)
  vim.fn.delete(dir, 'rf')
end)

case('4-checkhealth', false, function()
  vim.cmd('silent checkhealth spot')
  local lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  local text = table.concat(lines, '\n')
  write_artifact('checkhealth.txt', text .. '\n')
  local function line_with(pattern)
    for _, l in ipairs(lines) do
      if l:match(pattern) then
        return l
      end
    end
  end
  check(line_with('OK.*spot %d+%.%d+%.%d+'), 'no OK line for the binary:\n%s', text)
  check(line_with('OK.*setup%(%) was called'), 'setup not reported:\n%s', text)
  check(line_with('OK.*onnx runtime'), 'ONNX Runtime is not OK:\n%s', text)
  if HAS_MODEL then
    check(line_with('OK.*model load'), 'model load is not OK:\n%s', text)
    check(line_with('OK.*all checks passed'), 'doctor did not pass:\n%s', text)
    check(not line_with('ERROR'), 'an ERROR line:\n%s', text)
  else
    check(line_with('ERROR.*model'), 'the missing model is not an ERROR:\n%s', text)
  end
  check(line_with('OK.*client %d+ at ' .. vim.pesc(REPO)), 'the running server is not reported:\n%s', text)
  -- The parser of spot doctor's lines (`{status:<5} {what:<24} {detail}`, cli/doctor.rs).
  local parse = require('spot.health').parse_doctor_line
  for _, c in ipairs({
    { 'ok', '  generation_config.json', 'eos 2' },
    { 'FAIL', 'onnx runtime', 'ONNX Runtime not found; tried:' },
    { '-', 'model dir', '/x/y' },
    { 'warn', '  a_model_file_name_longer_than_24.onnx', 'detail here' },
  }) do
    local st, what, detail = parse(string.format('%-5s %-24s %s', c[1], c[2], c[3]))
    check(st == c[1] and what == vim.trim(c[2]) and detail == c[3], 'parsed %s as %s|%s|%s', vim.inspect(c), tostring(st), tostring(what), tostring(detail))
  end
  check(parse('all checks passed') == nil and parse('  spot data dir: /x (none)') == nil and parse('') == nil, 'parsed a non-report line')
  local function close()
    if #vim.api.nvim_list_tabpages() > 1 then
      vim.cmd('tabclose')
    else
      vim.cmd('bwipe!')
    end
  end
  close()

  -- A runtime error is reported whole: the places tried and the install hint, not cut at
  -- "tried:", and the hint to run spot doctor.
  local saved = spot.config.ort_path
  spot.config.ort_path = '/nonexistent/libonnxruntime.so'
  local ok2, err2 = pcall(vim.cmd, 'silent checkhealth spot')
  spot.config.ort_path = saved
  check(ok2, 'checkhealth: %s', tostring(err2))
  local bad = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')
  write_artifact('checkhealth-no-ort.txt', bad .. '\n')
  close()
  for _, want in ipairs({
    'ONNX Runtime not found; tried:',
    '/nonexistent/libonnxruntime.so (no ONNX Runtime library there)',
    'Install it with `pip install onnxruntime',
    'in a terminal for the full report',
  }) do
    check(bad:find(want, 1, true), 'checkhealth lacks "%s":\n%s', want, bad)
  end
end)

if REPLAY then
  -- The expert answers within a second or two: a cancel would race with the answer.
  results[#results + 1] = { name = '5-status-cancel', outcome = 'SKIP', why = 'replay mode' }
  say('SKIP 5-status-cancel               (the expert model answers too fast to cancel; run with the default model: SPOT_TEST_MODEL=~/.local/share/spot/models/smollm2-135m-instruct)')
else case('5-status-cancel', true, function()
  local buf = edit('inventory/pricing.py')
  -- :SpotStatus pretty-prints the index and model.
  vim.cmd('messages clear')
  vim.cmd('SpotStatus')
  wait(10000, function()
    return messages():match('index: ready')
  end, ':SpotStatus to print the index state')
  local out = messages()
  check(out:match('spot %d+%.%d+') and out:match('model: %a+, ') and out:match('jobs: none'), ':SpotStatus printed:\n%s', out)
  write_artifact('spotstatus-idle.txt', out)

  -- A fix typed into the scratch buffer, cancelled while it runs.
  local done_before = #fix_done
  vim.cmd('SpotFixIssue!')
  check(vim.api.nvim_buf_get_name(0) == 'spot://issue', 'no issue scratch buffer: %s', vim.api.nvim_buf_get_name(0))
  vim.cmd('stopinsert')
  vim.api.nvim_buf_set_lines(0, 0, -1, false, vim.split(issue_text, '\n'))
  vim.cmd('write')
  wait(MODEL_TIMEOUT, function()
    local s = spot.status(buf)
    return s and s.jobs and #s.jobs > 0 and s.jobs[1].kind == 'issueToPatch' and s.jobs[1].stage == 'generating'
  end, 'spot/status to show the issueToPatch job generating')
  vim.cmd('messages clear')
  vim.cmd('SpotStatus')
  wait(10000, function()
    return messages():match('job %d+: issueToPatch')
  end, ':SpotStatus to show the job')
  write_artifact('spotstatus-job.txt', messages())
  local n = #notes
  vim.cmd('SpotCancel')
  wait(60000, function()
    return #fix_done > done_before
  end, 'the cancelled fix to finish')
  local d = fix_done[#fix_done]
  check(d.status == 'cancelled', 'status %s, error %s', d.status, vim.inspect(d.error))
  check(d.error and d.error.code == -32800, 'error %s, expected code -32800', vim.inspect(d.error))
  -- The server's own answer (Neovim's RPC layer swallows -32800 replies; the LSP log has them).
  local lsp_log = read((vim.lsp.log.get_filename or vim.lsp.get_log_path)())
  check(
    lsp_log:match('rpc%.receive"%s+{ error = { code = %-32800, message = "cancelled" }, id = ' .. d.request_id .. ','),
    'no -32800 reply to request %s in the LSP log',
    tostring(d.request_id)
  )
  local shown_cancel, shown_count = false, false
  for k = n + 1, #notes do
    shown_cancel = shown_cancel or notes[k].msg:match('cancelled$') ~= nil
    shown_count = shown_count or notes[k].msg:match('cancelled 1 job') ~= nil
  end
  check(shown_count, ':SpotCancel did not report 1 cancelled job')
  check(shown_cancel, 'the cancellation was not shown to the user')
  wait(10000, function()
    local s = spot.status(buf)
    return s and #(s.jobs or {}) == 0
  end, 'the job to leave spot/status')
end) end

case('2-fix-issue', true, function()
  local buf = edit(TARGET)
  local original = buf_text(buf)
  local p0 = #progress
  local done_before = #fix_done

  -- :SpotFixIssue! applies without asking.
  local saw_status = nil
  local id = vim.api.nvim_create_autocmd('LspProgress', {
    callback = function(ev)
      local p = ev.data.params
      if type(p.token) == 'string' and p.token:match('^spot/job/') and p.value.kind == 'report' and not saw_status then
        saw_status = vim.lsp.status()
      end
    end,
  })
  local asked = false
  local real_input = vim.ui.input
  vim.ui.input = function(_, cb)
    asked = true
    cb('n')
  end
  vim.cmd('SpotFixIssue! @' .. ISSUE_FILE)
  wait(MODEL_TIMEOUT, function()
    return #fix_done > done_before
  end, ':SpotFixIssue! to finish')
  vim.ui.input = real_input
  vim.api.nvim_del_autocmd(id)
  local d = fix_done[#fix_done]
  check(not asked, ':SpotFixIssue! asked before applying')
  check(d.status == 'applied', 'status %s: %s', d.status, vim.inspect(d.error))
  -- What the user reads: the verdict. No test command here, so the server can only guess.
  check(type(d.result.verdictText) == 'string' and d.result.verdict ~= nil, 'the result has no verdict/verdictText (needs the server of issue 22): %s', vim.inspect(vim.tbl_extend('force', d.result, { edit = '…', diff = '…' })))
  local want = 'spot: ' .. spot.patch_message(d.result, 'applied')
  check(not spot.is_fix(d.result) and want:match('^spot: a guess'), 'an untested patch must read as a guess: %s (verdict %s)', want, tostring(d.result.verdict))
  local shown = nil
  for k = 1, #notes do
    if vim.startswith(notes[k].msg, want) then
      shown = notes[k]
    end
  end
  check(shown and shown.level == vim.log.levels.WARN, 'notification "%s" (a warning) not shown; got: %s', want, vim.inspect(vim.tbl_map(function(x) return x.msg end, notes)))
  check(not shown.msg:lower():find('validated'), '"validated" shown: %s', shown.msg)
  log('patch: %s, %s candidate(s)', d.result.summary, tostring(d.result.candidates))
  check(vim.tbl_contains(d.result.files, TARGET), 'the patch does not touch %s: %s', TARGET, vim.inspect(d.result.files))
  check(buf_text(buf) ~= original, 'the %s buffer did not change', TARGET)
  assert_buffers_match_diff(d.result, 'fix-bang')
  if REPLAY then
    check(buf_text(buf) == read(EXPECTED), 'the %s buffer is not the real fix', TARGET)
  end
  -- Progress went through the built-in LSP progress, with the documented stages.
  local stages = {}
  for _, p in ipairs(spot_progress_since(p0)) do
    stages[#stages + 1] = p.kind .. ' ' .. tostring(p.message)
  end
  local joined = table.concat(stages, '\n')
  check(joined:match('^begin'), 'progress does not begin: %s', joined)
  check(joined:match('localizing') and joined:match('generating'), 'stages missing: %s', joined)
  wait(5000, function()
    return spot_progress_since(p0)[#spot_progress_since(p0)].kind == 'end'
  end, 'the progress to end')
  check(saw_status and saw_status:match('spot:'), 'vim.lsp.status() during the fix: %s', tostring(saw_status))

  -- :SpotFixIssue on a selection (the issue file), preview + "y".
  revert(d.result.files)
  vim.cmd('split ' .. vim.fn.fnameescape(ISSUE_FILE))
  local seen = nil
  vim.ui.input = function(opts, cb)
    local pbuf = find_buf('spot://patch')
    seen = {
      prompt = opts.prompt,
      visible = pbuf ~= -1 and #vim.fn.win_findbuf(pbuf) > 0,
      preview = pbuf ~= -1 and buf_text(pbuf) or nil,
      filetype = pbuf ~= -1 and vim.bo[pbuf].filetype or nil,
    }
    save_screen('fix-preview')
    cb('y')
  end
  done_before = #fix_done
  vim.cmd('%SpotFixIssue')
  wait(MODEL_TIMEOUT, function()
    return #fix_done > done_before
  end, ':SpotFixIssue (preview) to finish')
  vim.ui.input = real_input
  local d2 = fix_done[#fix_done]
  check(seen, 'the preview path did not ask (y/n)')
  check(seen.prompt:match('apply this patch') and seen.prompt:match('^spot: a guess'), 'prompt: %s', seen.prompt)
  check(seen.visible and seen.filetype == 'diff', 'the diff preview was not shown: %s', vim.inspect(seen))
  check(d2.status == 'applied', 'status %s: %s', d2.status, vim.inspect(d2.error))
  check(seen.preview == d2.result.diff or seen.preview == d2.result.diff .. '\n', 'the preview is not the returned diff:\n%s', seen.preview)
  check(find_buf('spot://patch') == -1, 'the preview was not closed after the answer')
  assert_buffers_match_diff(d2.result, 'fix-preview')
  if REPLAY then
    check(buf_text(buf) == read(EXPECTED), 'the %s buffer is not the real fix (preview)', TARGET)
  end
  revert(d2.result.files)
end)

-- No model needed: the fix is a tested one-line edit (repair template), judged by the tests.
case('3-code-action', false, function()
  -- (a) A syntax error gets a spot diagnostic, and vim.lsp.buf.code_action() lists "Fix with
  -- spot: …" for it. Not run: the fixture model has no answer for it.
  local buf = edit('inventory/store.py')
  local client = nil
  wait(10000, function()
    client = spot.client(buf)
    return client ~= nil
  end, 'the client to attach to store.py')
  local lnum, _, line = find_line(buf, '^%s+def [%w_]+%(self[^)]*%).*:$')
  check(lnum, 'no method definition in store.py')
  local broken = line:gsub('%)(.*):$', '%1:', 1)
  vim.api.nvim_buf_set_lines(buf, lnum - 1, lnum, false, { broken })
  log('broke line %d: %s', lnum, broken)
  local ns = vim.lsp.diagnostic.get_namespace(client.id)
  wait(20000, function()
    return #vim.diagnostic.get(buf, { namespace = ns }) > 0
  end, 'a spot diagnostic for the syntax error')
  local diag = vim.diagnostic.get(buf, { namespace = ns })[1]
  check(diag.source == 'spot' and diag.message:match('syntax error'), 'diagnostic: %s', vim.inspect(diag))
  vim.api.nvim_win_set_cursor(0, { diag.lnum + 1, diag.col })

  local real_select = vim.ui.select
  local titles = nil
  local want = nil --- @type string? the title to choose
  vim.ui.select = function(items, opts, on_choice)
    titles = {}
    local pick = nil
    for _, item in ipairs(items) do
      local title = opts.format_item and opts.format_item(item) or item.action.title
      titles[#titles + 1] = title
      if want and not pick and title:find(want, 1, true) then
        pick = item
      end
    end
    log('code actions: %s', table.concat(titles, ' | '))
    on_choice(pick)
  end
  local util = vim.lsp.util
  local real_apply = util.apply_workspace_edit
  local applied = nil
  util.apply_workspace_edit = function(e, enc, ...)
    applied = vim.deepcopy(e)
    return real_apply(e, enc, ...)
  end
  local function restore()
    vim.ui.select, util.apply_workspace_edit = real_select, real_apply
  end
  local ok, err = pcall(function()
    vim.lsp.buf.code_action()
    wait(10000, function()
      return titles ~= nil
    end, 'the code action menu')
    check(titles[1] and titles[1]:match('^Fix with spot: syntax error'), 'code actions offered: %s', vim.inspect(titles))
  end)
  vim.api.nvim_buf_call(buf, function()
    vim.cmd('edit!')
  end)
  if not ok then
    restore()
    error(err, 0)
  end

  -- (b) A bug pinned by a failing test, with a test command: in the function "Fix
  -- `bulk_discount_percent` with spot" is listed; in the test, "Fix failing test `…` with spot"
  -- must change pricing.py's buffer by exactly the one-line `>` → `>=` the test asks for.
  local test_file = REPO .. '/tests/test_boundary.py'
  vim.fn.writefile({
    'import unittest',
    '',
    'from inventory.pricing import bulk_discount_percent',
    '',
    '',
    'class BoundaryTest(unittest.TestCase):',
    '    def test_ten_units_get_the_first_tier(self):',
    '        self.assertEqual(bulk_discount_percent(10), 5)',
  }, test_file)
  if REPLAY then
    -- The replayed bug's test must not fail too: its fix on disk and in its buffer.
    vim.fn.writefile(vim.split(read(EXPECTED), '\n', { plain = true }), REPO .. '/' .. TARGET, 'b')
    local tb = find_buf(REPO .. '/' .. TARGET)
    if tb ~= -1 then
      vim.api.nvim_buf_call(tb, function()
        vim.cmd('edit!')
      end)
    end
  end
  local opts = vim.deepcopy(spot.config)
  opts.test_command = assert(os.getenv('SPOT_NVIM_TEST_CMD'), 'SPOT_NVIM_TEST_CMD is not set')
  spot.setup(opts)
  local pbuf = edit('inventory/pricing.py')
  local pricing = buf_text(pbuf)
  check(pricing == git_show('inventory/pricing.py'), 'pricing.py is not the fixture\'s')
  local bug = find_line(pbuf, '^        if quantity > min_quantity:$')
  check(bug, 'pricing.py lacks the fixture\'s bug line')
  local fixed = pricing:gsub('        if quantity > min_quantity:', '        if quantity >= min_quantity:', 1)
  -- In the function: "Fix `bulk_discount_percent` with spot" is listed (not chosen).
  vim.api.nvim_win_set_cursor(0, { bug, 12 })
  titles, want, applied = nil, nil, nil
  ok, err = pcall(function()
    vim.lsp.buf.code_action()
    wait(10000, function()
      return titles ~= nil
    end, 'the code action menu in bulk_discount_percent')
    check(vim.tbl_contains(titles, 'Fix `bulk_discount_percent` with spot'), '"Fix `bulk_discount_percent` with spot" not offered: %s', vim.inspect(titles))
  end)
  -- In the failing test: "Fix failing test `…` with spot" is chosen and must fix pricing.py.
  local tbuf = ok and edit('tests/test_boundary.py') or nil
  local n = #notes
  if ok then
    vim.api.nvim_win_set_cursor(0, { (find_line(tbuf, 'assertEqual')), 8 })
    titles, want, applied = nil, 'Fix failing test `', nil
    ok, err = pcall(function()
      vim.lsp.buf.code_action()
      wait(10000, function()
        return titles ~= nil
      end, 'the code action menu in the failing test')
      local found = false
      for _, t in ipairs(titles) do
        found = found or (t:find(want, 1, true) and t:find('test_ten_units_get_the_first_tier', 1, true)) ~= nil
      end
      check(found, '"Fix failing test `…test_ten_units_get_the_first_tier` with spot" not offered: %s', vim.inspect(titles))
      wait(MODEL_TIMEOUT, function()
        if applied then
          return true
        end
        for k = n + 1, #notes do
          if notes[k].level == vim.log.levels.ERROR then
            return true
          end
        end
      end, 'the resolved code action to apply an edit or show an error')
    end)
  end
  restore()
  opts.test_command = nil
  spot.setup(opts)
  os.remove(test_file)
  if tbuf and vim.api.nvim_buf_is_valid(tbuf) then
    vim.api.nvim_buf_delete(tbuf, { force = true })
  end
  if not ok then
    error(err, 0)
  end
  for k = n + 1, #notes do
    check(notes[k].level < vim.log.levels.ERROR, 'an error was shown: %s', notes[k].msg)
  end
  check(applied, 'no edit was applied')
  write_artifact('code-action-edit.json', vim.json.encode(applied))
  local after = buf_text(pbuf)
  write_artifact('code-action.pricing.py.after', after)
  check(after == fixed, 'pricing.py is not the one-line fix:\n%s', after)
  vim.api.nvim_buf_call(pbuf, function()
    vim.cmd('edit!')
  end)
  if REPLAY then
    vim.fn.writefile(vim.split(git_show(TARGET), '\n', { plain = true }), REPO .. '/' .. TARGET, 'b')
  end
  log('code action: bulk_discount_percent fixed by the resolved "Fix failing test" edit')
end)

case('8-fallback-start', false, function()
  -- The vim.lsp.start path of Neovim < 0.11, forced on this one.
  for _, c in ipairs(vim.lsp.get_clients({ name = 'spot' })) do
    c:stop(true)
  end
  wait(10000, function()
    return #vim.lsp.get_clients({ name = 'spot' }) == 0
  end, 'the spot clients to stop')
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_get_name(b) ~= '' then
      vim.api.nvim_buf_delete(b, { force = true })
    end
  end
  local opts = vim.deepcopy(spot.config)
  opts.use_lsp_enable = false
  spot.setup(opts)
  local buf = edit('inventory/models.py')
  wait(20000, function()
    return spot.client(buf) ~= nil
  end, 'vim.lsp.start to attach spot to models.py')
  local client = assert(spot.client(buf))
  check(client.root_dir == REPO, 'root_dir %s', tostring(client.root_dir))
  check(client.config.init_options and client.config.init_options.provider == 'cpu', 'init_options: %s', vim.inspect(client.config.init_options))
  wait(60000, function()
    local s = spot.client_status(client.id)
    return s and s.index and s.index.state == 'ready'
  end, 'the index of the fallback client')
  -- Other buffers of the workspace share the client.
  local other = edit('inventory/store.py')
  wait(10000, function()
    return spot.client(other) and spot.client(other).id == client.id
  end, 'store.py to attach to the same client')
  check(#vim.lsp.get_clients({ name = 'spot' }) == 1, '%d spot clients', #vim.lsp.get_clients({ name = 'spot' }))
end)

case('9-missing-binary', false, function()
  -- No spot binary: one clear notification at setup, and the commands say the binary is missing
  -- instead of "open a python file".
  for _, c in ipairs(vim.lsp.get_clients({ name = 'spot' })) do
    c:stop(true)
  end
  wait(10000, function()
    return #vim.lsp.get_clients({ name = 'spot' }) == 0
  end, 'the spot clients to stop')
  local saved = vim.deepcopy(spot.config)
  local path = vim.env.PATH
  local ok, err = pcall(function()
    for _, variant in ipairs({
      { binary = '/nonexistent/spot', want = 'binary not found: `/nonexistent/spot`' },
      { binary = 'spot', path = '/nonexistent', want = 'binary not found: `spot` is not on $PATH' },
    }) do
      local n = #notes
      vim.env.PATH = variant.path or path
      local opts = vim.deepcopy(saved)
      opts.binary = variant.binary
      spot.setup(opts)
      spot.setup(opts) -- once per problem, not per setup() or buffer
      edit('inventory/models.py')
      local shown = {}
      for k = n + 1, #notes do
        shown[#shown + 1] = notes[k]
      end
      check(#shown == 1 and shown[1].level == vim.log.levels.ERROR and vim.startswith(shown[1].msg, 'spot: ' .. variant.want), 'setup notified: %s', vim.inspect(shown))
      check(#vim.lsp.get_clients({ name = 'spot' }) == 0, 'a client started without a binary')
      n = #notes
      vim.cmd('SpotStatus')
      local last = notes[#notes]
      check(#notes == n + 1 and last.msg:find(variant.want, 1, true) and not last.msg:find('open a', 1, true), ':SpotStatus said: %s', last and last.msg)
      check(spot.statusline() == 'spot: binary not found', 'statusline: %s', spot.statusline())
    end
  end)
  vim.env.PATH = path
  spot.setup(saved)
  if not ok then
    error(err, 0)
  end
end)

case('10-verdict-words', false, function()
  -- Only fixesFailingTests reads as a fix; everything else as a guess, never "validated".
  local fix = { summary = '1 file changed: a.py', verdict = 'fixesFailingTests', verdictText = 'fixes the 1 failing test' }
  check(spot.patch_message(fix, 'applied') == 'fix — fixes the 1 failing test · applied: 1 file changed: a.py', '%s', spot.patch_message(fix, 'applied'))
  check(spot.is_fix({ verdict = 'fixes_failing_tests' }), 'snake_case verdict')
  for _, g in ipairs({
    { verdict = 'passesTests', verdictText = 'a guess: no test shows this bug (the tests still pass with it)' },
    { verdict = 'unverified', verdictText = 'a guess: not tested' },
    { verdict = 'unverified', verdictText = 'not tested' },
    { verdict = 'passes_tests' },
    {},
  }) do
    g.summary = '1 file changed: a.py'
    local m = spot.patch_message(g, 'applied')
    check(vim.startswith(m, 'a guess: ') and not m:lower():find('validated') and not m:find('fix'), '%s → %s', vim.inspect(g), m)
  end
  check(vim.tbl_contains(spot.config.filetypes, 'javascriptreact') and vim.tbl_contains(spot.config.filetypes, 'typescriptreact'), 'filetypes: %s', vim.inspect(spot.config.filetypes))
end)

--------------------------------------------------------------------------------------------
-- Summary, artifacts, exit.

write_artifact('messages.txt', messages())
local failed, passed, skipped = 0, 0, 0
for _, r in ipairs(results) do
  if r.outcome == 'FAIL' then
    failed = failed + 1
  elseif r.outcome == 'PASS' then
    passed = passed + 1
  else
    skipped = skipped + 1
  end
end
say(string.format(
  'nvim tests: %d passed, %d failed, %d skipped%s in %.1fs',
  passed,
  failed,
  skipped,
  HAS_MODEL and '' or ' (SPOT_TEST_MODEL=none: the model cases did not run)',
  elapsed()
))
if #results == 0 then
  say('nvim tests: no case matched SPOT_NVIM_CASES=' .. ONLY)
  failed = 1
end
for _, c in ipairs(vim.lsp.get_clients({ name = 'spot' })) do
  c:stop()
end
vim.wait(3000, function()
  return #vim.lsp.get_clients({ name = 'spot' }) == 0
end, 50)
log_file:close()
vim.cmd((failed > 0 and 'cquit 1' or 'qall!'))
