"""marketphys.widgets"""
