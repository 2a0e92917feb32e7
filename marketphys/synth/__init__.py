"""marketphys.synth"""
