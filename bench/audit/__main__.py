from bench.audit.run import main

main()
