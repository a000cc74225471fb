"""
pixmux-bedrock: the provider for Amazon Bedrock's image models.

The hooks live in :mod:`pixmux_bedrock.provider` (the ``bedrock`` entry point). Importing this
package does not import boto3 or botocore; they load only when credentials are resolved or a
request is signed.
"""

__version__ = "1.0.0"
