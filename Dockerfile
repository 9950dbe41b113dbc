FROM python:3.11-slim
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir . && useradd --system postdesk && mkdir /data && chown postdesk /data
USER postdesk
ENV POSTDESK_DATA_DIR=/data POSTDESK_SMTP_HOST=0.0.0.0 POSTDESK_HTTP_HOST=0.0.0.0
EXPOSE 2525 8080
CMD ["postdesk", "run"]
