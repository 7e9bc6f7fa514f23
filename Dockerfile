# One image for the three services; docker-compose.yml picks the service by command.
FROM python:3.11-slim
WORKDIR /app
COPY constraints.txt ./
COPY clients/python clients/python
COPY services services
RUN pip install --no-cache-dir -c constraints.txt \
      ./clients/python ./services/common ./services/ingest ./services/triggers ./services/actions \
 && useradd --system --uid 10001 automations
USER automations
ENTRYPOINT ["python", "-m"]
