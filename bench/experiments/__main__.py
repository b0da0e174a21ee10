from bench.experiments.run import main

main()
