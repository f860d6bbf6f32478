// shutdown tests: written next
