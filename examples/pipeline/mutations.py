"""The mutations of seed 004: each does its work and returns a new record that
says what was done. The images are real: libvips makes a raw picture for the
stock number and the 100 px and 200 px thumbnails (longest side)."""
import copy
import os
import subprocess
import tempfile
import zlib

import boto3
from botocore.config import Config

BUCKET = os.environ["BUCKET"]
s3 = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"),
                  region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                  config=Config(s3={"addressing_style": "path"}))


def raw_key(stock_no):
    return "raw/%s.png" % stock_no


def thumb_key(stock_no, size):
    return "thumbs/%d/%s.png" % (size, stock_no)


def create_raw(record):
    """has_raw: a colour picture made for this stock number, uploaded to raw/."""
    seed = zlib.crc32(record["stock_no"].encode())
    with tempfile.TemporaryDirectory() as d:
        bands = []
        for i in range(3):
            band = os.path.join(d, "b%d.v" % i)
            subprocess.run(["vips", "perlin", band, "800", "600", "--cell-size", "96", "--uchar",
                            "--seed", str(seed + i)], check=True)
            bands.append(band)
        raw = os.path.join(d, "raw.png")
        subprocess.run(["vips", "bandjoin", " ".join(bands), raw], check=True)
        s3.upload_file(raw, BUCKET, raw_key(record["stock_no"]), ExtraArgs={"ContentType": "image/png"})
    result = copy.deepcopy(record)
    result["has_raw"] = True
    return result


def thumbnail(record, size):
    """size_100 / size_200: the raw picture scaled to fit size x size."""
    with tempfile.TemporaryDirectory() as d:
        raw, out = os.path.join(d, "raw.png"), os.path.join(d, "thumb.png")
        s3.download_file(BUCKET, raw_key(record["stock_no"]), raw)
        subprocess.run(["vipsthumbnail", raw, "--size", str(size), "-o", out], check=True)
        s3.upload_file(out, BUCKET, thumb_key(record["stock_no"], size),
                       ExtraArgs={"ContentType": "image/png"})
    result = copy.deepcopy(record)
    result["size_%d" % size] = True
    return result
