"""marketphys.pipeline"""
