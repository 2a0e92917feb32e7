"""marketphys.serving"""
