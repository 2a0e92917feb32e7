"""marketphys.render"""
