"""`make bench`: every figure, printed (never asserted). See bench/README.md for the latest ones."""

from bench.all import main

main()
