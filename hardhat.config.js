// Hardhat compiles contracts/ offline with the npm solc (solc-js), the same compiler and settings
// that bridge/compile.py uses through py-solc-x; tests/contracts/test_compile_parity.py checks that
// both produce identical runtime bytecode. The settings live in contracts/compiler.json (one source).
const { subtask } = require("hardhat/config");
const { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } = require("hardhat/builtin-tasks/task-names");
const compiler = require("./contracts/compiler.json");

subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, async (args) => ({
  compilerPath: require.resolve("solc/soljson.js"),
  isSolcJs: true,
  version: args.solcVersion,
  longVersion: require("solc/package.json").version,
}));

module.exports = {
  solidity: { version: compiler.version, settings: compiler.settings },
  // `npx hardhat node` as an external JSON-RPC chain (tests/integration/test_external_node.py):
  // free gas like the production Besu network (zeroBaseFee, min-gas-price=0).
  networks: { hardhat: { initialBaseFeePerGas: 0, gasPrice: 0, blockGasLimit: 60_000_000 } },
  paths: { sources: "./contracts", artifacts: "./build/hardhat/artifacts", cache: "./build/hardhat/cache" },
};
