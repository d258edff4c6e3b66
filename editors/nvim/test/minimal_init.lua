-- Minimal init for the headless tests (run.sh sets the environment): the plugin on the
-- runtimepath, setup() with the test's binary and model, the LSP log at debug.
local plugin = assert(os.getenv('SPOT_NVIM_PLUGIN'), 'SPOT_NVIM_PLUGIN is not set (use test/run.sh)')
vim.opt.runtimepath:prepend(plugin)
vim.opt.swapfile = false
vim.opt.shortmess:append('I')
vim.opt.cmdheight = 2
vim.o.lines, vim.o.columns = 40, 140

local set_level = (vim.lsp.log and vim.lsp.log.set_level) or vim.lsp.set_log_level
set_level(os.getenv('SPOT_NVIM_LSP_LOG_LEVEL') or 'debug')

local model = os.getenv('SPOT_NVIM_MODEL') or 'none'
require('spot').setup({
  binary = assert(os.getenv('SPOT_BIN'), 'SPOT_BIN is not set'),
  model_dir = model ~= 'none' and model or nil,
  provider = 'cpu',
  log_level = 'info',
})
