from tpch_elt.cli import main

main()
