from bench.pii.run import main

main()
