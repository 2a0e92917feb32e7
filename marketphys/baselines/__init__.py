"""marketphys.baselines"""
