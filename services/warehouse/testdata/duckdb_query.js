// Runs one SQL query in DuckDB (in memory) through its Node package and
// prints the rows as a JSON array of objects, every value as DuckDB's JSON
// form. The warehouse's lake test reads the Parquet lake with it: a reader
// the project did not write.
//
// usage: NODE_PATH=tools/npm/node_modules node duckdb_query.js '<sql>'
const { DuckDBInstance } = require('@duckdb/node-api');

(async () => {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  const reader = await conn.runAndReadAll(process.argv[2]);
  process.stdout.write(JSON.stringify(reader.getRowObjectsJson()));
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
