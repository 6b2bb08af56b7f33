"""RunPod deployment: runpod-config.yaml -> RunPod templates and endpoints (``runpod_debug.py deploy``).

config: the file, in RunPod's own fields; fields: RunPod's published request fields; calls: which API each
call goes through; api: sending them; command: the command line.
"""
