--- :checkhealth spot — the binary, ONNX Runtime and the model (through `spot doctor`), and the
--- running servers.

local M = {}

local health = vim.health
-- Neovim < 0.10 names them report_*.
local start = health.start or health.report_start
local ok = health.ok or health.report_ok
local warn = health.warn or health.report_warn
local error = health.error or health.report_error
local info = health.info or health.report_info

local function run(cmd, env, timeout_ms)
  if vim.system then
    local done = vim.system(cmd, { text = true, env = env }):wait(timeout_ms)
    return done.code, done.stdout or '', done.stderr or ''
  end
  local out = vim.fn.system(cmd)
  return vim.v.shell_error, out, ''
end

--- One report line of `spot doctor`'s text output: `{status:<5} {what:<24} {detail}`.
--- Returns status, what, detail (nil for other lines).
function M.parse_doctor_line(line)
  local status = line:match('^(%S+)')
  if not status or not vim.tbl_contains({ 'ok', 'warn', 'FAIL', '-' }, status) or #line < 7 then
    return nil
  end
  if line:sub(#status + 1, 6) ~= string.rep(' ', 6 - #status) then
    return nil
  end
  local rest = line:sub(7)
  local what, detail
  if #rest > 25 and rest:sub(25, 25) == ' ' then
    what, detail = rest:sub(1, 24), rest:sub(26)
  else
    local trimmed = rest:gsub('^%s+', '')
    what, detail = trimmed:match('^(.-)%s%s+(.*)$')
    if not what then
      what, detail = trimmed:match('^(%S+)%s+(.*)$')
    end
  end
  if not what then
    what, detail = rest, ''
  end
  return status, vim.trim(what), vim.trim(detail)
end

--- `spot doctor`'s text output → `{status, what, detail}` per check. A check's detail may go on
--- over the following lines (the places ONNX Runtime was looked for, the install hint): they are
--- kept, whole, in its detail.
function M.parse_doctor(text)
  local entries = {}
  for _, line in ipairs(vim.split(text, '\n')) do
    local status, what, detail = M.parse_doctor_line(line)
    if status then
      entries[#entries + 1] = { status = status, what = what, detail = detail }
    elseif
      #entries > 0
      and vim.trim(line) ~= ''
      and not line:match('^%d+ problem%(s%) found')
      and not line:match('^all checks passed')
    then
      local last = entries[#entries]
      last.detail = (last.detail ~= '' and (last.detail .. '\n') or '') .. vim.trim(line)
    end
  end
  return entries
end

local function report(status, what, detail)
  local msg = what .. ': ' .. detail
  if status == 'ok' then
    ok(msg)
  elseif status == 'warn' then
    warn(msg)
  elseif status == 'FAIL' or status == 'error' or status == 'fail' then
    error(msg)
  else
    info(msg)
  end
end

--- `spot doctor --json`, if a future spot has it: accepts a list of checks or `{checks = [...]}`
--- whose entries carry status/level, name/what/check and detail/message.
local function report_json(text)
  local okj, data = pcall(vim.json.decode, text)
  if not okj or type(data) ~= 'table' then
    return false
  end
  local checks = data.checks or data
  if not (vim.islist or vim.tbl_islist)(checks) then
    return false
  end
  for _, c in ipairs(checks) do
    local status = tostring(c.status or c.level or '-'):lower()
    status = ({ ok = 'ok', warn = 'warn', warning = 'warn', fail = 'FAIL', error = 'FAIL' })[status]
      or '-'
    report(status, tostring(c.name or c.what or c.check or '?'), tostring(c.detail or c.message or ''))
  end
  return true
end

function M.check()
  local spot = require('spot')
  local config = spot.config

  start('spot: Neovim')
  if vim.fn.has('nvim-0.11') == 1 then
    ok('Neovim ' .. tostring(vim.version()) .. ' (vim.lsp.config / vim.lsp.enable)')
  elseif vim.fn.has('nvim-0.10') == 1 then
    warn('Neovim ' .. tostring(vim.version()) .. ': using the vim.lsp.start fallback; 0.11+ is recommended')
  else
    error('Neovim ' .. tostring(vim.version()) .. ' is too old; spot.nvim needs 0.10 (0.11+ recommended)')
  end
  if spot.did_setup then
    ok('require("spot").setup() was called; filetypes: ' .. table.concat(config.filetypes, ', '))
  else
    warn('require("spot").setup() has not been called: the server does not start and the :Spot* commands do not exist')
  end

  start('spot: binary')
  local cmd = spot.cmd(config)
  local bin = vim.fn.exepath(vim.fn.expand(cmd[1]))
  if bin == '' then
    error(
      string.format('`%s` not found', cmd[1]),
      { 'build it: cargo build --release --bin spot, and put target/release on $PATH', 'or: require("spot").setup({ binary = "/path/to/spot" })' }
    )
    return
  end
  local env = config.cmd_env
  local code, out, err = run({ bin, '--version' }, env, 10000)
  if code ~= 0 then
    error(string.format('`%s --version` failed (exit %d): %s', bin, code, vim.trim(err .. out)))
    return
  end
  ok(string.format('%s (%s)', vim.trim(out), bin))

  start('spot: ONNX Runtime and model (spot doctor)')
  local _, help = run({ bin, 'doctor', '--help' }, env, 10000)
  local doctor = { bin, 'doctor' }
  local json = help:find('%-%-json') ~= nil
  if json then
    doctor[#doctor + 1] = '--json'
  end
  if config.model_dir and help:find('%-%-model') then
    vim.list_extend(doctor, { '--model', vim.fn.expand(config.model_dir) })
  end
  if config.ort_path and help:find('%-%-ort') then
    vim.list_extend(doctor, { '--ort', vim.fn.expand(config.ort_path) })
  end
  if config.provider and help:find('%-%-provider') then
    vim.list_extend(doctor, { '--provider', config.provider })
  end
  info('running `' .. table.concat(doctor, ' ') .. '` (loads the model: a few seconds)')
  local dcode, dout, derr = run(doctor, env, 180000)
  local reported = json and report_json(dout)
  if not reported then
    local entries = M.parse_doctor(dout)
    for _, e in ipairs(entries) do
      -- Index lines are about caches, not about this setup.
      if e.what == 'index' and e.status == 'warn' then
        e.status = '-'
      end
      report(e.status, e.what, e.detail)
    end
    if #entries == 0 then
      error('could not read the output of spot doctor: ' .. vim.trim(dout .. derr))
    end
  end
  local problems = dout:match('(%d+) problem%(s%) found')
  if dcode == 0 and not problems then
    ok('spot doctor: all checks passed')
  elseif dcode == nil or dcode == 124 then
    error('spot doctor did not finish')
  else
    error(
      string.format('spot doctor found %s problem(s) (exit %d)', problems or 'some', dcode),
      {
        'run `' .. table.concat(doctor, ' ') .. '` in a terminal for the full report',
        'ONNX Runtime: run fixtures/models/setup.sh --runtime-only, or set ort_path / ORT_DYLIB_PATH',
        'model: run fixtures/models/setup.sh, or set model_dir',
      }
    )
  end

  start('spot: language server')
  local clients = (vim.lsp.get_clients or vim.lsp.get_active_clients)({ name = 'spot' })
  if #clients == 0 then
    info('no spot server is running (it starts with a ' .. table.concat(config.filetypes, '/') .. ' buffer)')
  end
  for _, client in ipairs(clients) do
    local s = spot.client_status(client.id)
    local root = client.root_dir or '(no root)'
    if not s then
      info(string.format('client %d at %s: no spot/status received yet', client.id, root))
    else
      local ix, m = s.index or {}, s.model or {}
      local line = string.format(
        'client %d at %s: index %s (%s files), model %s (%s)',
        client.id,
        root,
        tostring(ix.state),
        tostring(ix.files or 0),
        tostring(m.state),
        tostring(m.name or m.dir)
      )
      if m.state == 'unavailable' then
        warn(line .. ': ' .. tostring(m.error))
      else
        ok(line)
      end
    end
  end
end

return M
