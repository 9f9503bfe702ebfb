"""The agent side: models, prompt assembly and the turn runner.

Heavy libraries (litellm, llama_cpp) are imported inside the functions that call them.
"""
