"""The reduce/report side of a run: shards in, results/ and report/ out.

`merge` (shards -> `rundata.RunData`), then `report.write_report` (tables, figures, the page); `report.reduce_run`
does both. Kept free of imports so loading one module (say `rundata`) does not pull in plotting.
"""
