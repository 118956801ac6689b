"""What the runtime does differently per VLM architecture: image preprocessing, the prompt,
where the image features go. One module per architecture, named like the builder's adapter
(`vlmprune.export.models.<arch>`).
"""
