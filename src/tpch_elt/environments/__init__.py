"""Environments: catalogs over the one segment store, built, compared and promoted without copying data.

prod is what `tpch-elt build` publishes (tpch_elt.publish): the catalog
`warehouse.published.duckdb` over the Parquet segments in
`warehouse.published/`. Any other environment NAME lives in
`<data-dir>/environments/NAME/`:

    environment.json       what it is: where it came from, the prod publication it
                           is based on, the segments its catalog names, its last build
    catalog.duckdb         what its readers open: one view per mart, as prod's
    env_NAME.duckdb        its dbt warehouse: only the models its builds rebuilt
    dbt/target/            dbt's artifacts of its last build (manifest.json)

    registry.py     create (zero-copy: a catalog naming the source's segments), list, drop, gc
    build.py        `dbt build --select state:modified+ --defer --favor-state` against prod,
                    then write–audit–publish into the environment's catalog
    diff.py         an environment against another, mart by mart, by primary key
    promotion.py    promote (one catalog swap on prod) and rollback, recorded

Every step that changes the store or prod's catalog holds prod's writer
lock (`warehouse.lock`), so a build, a promotion and a collection never
interleave; creating an environment needs no lock (it pins the segments
of prod's live catalog, which the next KEEP_PUBLICATIONS publications keep).
"""
