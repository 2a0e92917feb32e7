"""marketphys.replay"""
