from bench.policies.run import main

main()
