from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from parley.images.loader import ImageLoader


def image_loader(request: Request) -> ImageLoader:
    """An image reader under the deployment's `images` settings (cheap: it holds no connection)."""
    return ImageLoader(request.app.state.settings.images)


ImageLoaderDep = Annotated[ImageLoader, Depends(image_loader)]
