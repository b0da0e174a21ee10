from bench.conflicts.run import main

main()
