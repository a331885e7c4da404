// The vendored Apache Arrow UMD build (loaded as a classic script by explorer.mjs, it sets
// globalThis.Arrow) re-exported as the ES module "apache-arrow" that duckdb-browser.mjs imports.
const Arrow = globalThis.Arrow;
if (!Arrow) {
  throw new Error("Apache Arrow is not loaded (vendor/apache-arrow/Arrow.es2015.min.js)");
}
export const { Type, RecordBatchReader, Table, tableToIPC, tableFromIPC } = Arrow;
export default Arrow;
