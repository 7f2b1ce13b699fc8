# One image for every aifactory service; the compose file picks the module to run.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY pricing ./pricing
COPY services ./services
RUN pip install --no-cache-dir .
ENV PYTHONUNBUFFERED=1
USER 1000
CMD ["python", "-m", "services.gateway.main"]
